//! The cross-sell model and the map of the book on a simulated world.

use cge::features::{self, per_feature};
use cge::job::Reporter;
use cge::models::crosssell::{self, Outcome, Outcomes, Params};
use cge::models::map;
use cge::simulate::{SimConfig, simulate};
use cge::workspace::Workspace;
use chrono::NaiveDate;

#[test]
fn cross_sell_beats_popularity_on_a_simulated_world() {
    let as_of = NaiveDate::from_ymd_opt(2026, 10, 31).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let mut ws = Workspace::open(&tmp.path().join("sim.db")).unwrap();
    simulate(&mut ws, &SimConfig::new(1200, 42, as_of), false).unwrap();
    let usage = per_feature::matrix(ws.conn(), as_of, per_feature::DEFAULT_DAYS).unwrap();
    let record = features::compute(&mut ws, as_of, &Reporter::silent()).unwrap();
    let active = crosssell::active_rows(&usage, &record).unwrap();

    // Measured on this world (hiding seed 1): rank 4 0.584 vs popularity 0.122 over 928
    // active accounts; worlds of seeds 1, 2, 3: 0.61/0.19, 0.58/0.18, 0.61/0.12.
    let hit = crosssell::evaluate(&usage, Some(&active), &Params::default(), 1).unwrap();
    assert!(hit.accounts > 500, "{hit:?}");
    assert!(hit.model >= 2.0 * hit.popularity, "{hit:?}");

    let model = crosssell::fit(&usage, Some(&active), &Params::default()).unwrap();
    assert_eq!(model.fitted_rows, active.iter().filter(|&&a| a).count());
    let outcomes = Outcomes::from_record(&record).unwrap();
    let mut churned_lookalikes = 0;
    for (row, id) in usage.account_ids.iter().enumerate() {
        let used = usage.counts_row(row);
        for rec in model.recommend(id, 3) {
            let f = usage
                .features
                .iter()
                .position(|f| *f == rec.feature)
                .unwrap();
            assert_eq!(used[f], 0.0, "{id} already uses {}", rec.feature);
        }
        let mut near = model.lookalikes(id, 5);
        outcomes.annotate(&mut near);
        assert!(
            near.iter()
                .all(|l| l.account_id != *id && l.outcome.is_some())
        );
        churned_lookalikes += near
            .iter()
            .filter(|l| l.outcome == Some(Outcome::Churned))
            .count();
    }
    // Accounts that left inside the window still have a profile to compare with.
    assert!(churned_lookalikes > 0);

    let scores = model.hybrid_scores(&record).unwrap();
    assert_eq!(scores.len(), model.fitted_rows);
    assert!(scores.iter().all(|(_, s)| (0.0..=1.0).contains(s)));

    let (_, x) = map::record_inputs(&record).unwrap();
    let m = map::embed(&x).unwrap();
    assert_eq!(m.coords.len(), record.len());
    assert!(m.explained[0] >= m.explained[1]);
}
