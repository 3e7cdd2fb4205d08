//! Import throughput: 1,000,000 usage rows (with 2,000 accounts, 20,000 subscriptions,
//! 8,000 tickets, 300 churn events) from CSV into a fresh workspace.
//!
//! `cargo bench --bench import`

use std::io::Write;
use std::path::Path;

use cge::workspace::Workspace;
use cge::workspace::import::{ImportOptions, import_dir};
use criterion::{Criterion, criterion_group, criterion_main};

const ACCOUNTS: usize = 2_000;
const SUBS: usize = 20_000;
const USAGE: usize = 1_000_000;

fn write(dir: &Path, name: &str, header: &str, rows: impl Iterator<Item = String>) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(dir.join(name)).unwrap());
    writeln!(f, "{header}").unwrap();
    for r in rows {
        writeln!(f, "{r}").unwrap();
    }
}

fn date(i: usize) -> String {
    format!("2024-{:02}-{:02}", i % 12 + 1, i % 28 + 1)
}

fn make_csvs(dir: &Path) {
    write(
        dir,
        "accounts.csv",
        "account_id,account_name,industry,country,signup_date,referral_source,plan_tier,seats,is_trial,churn_flag",
        (0..ACCOUNTS).map(|i| {
            format!(
                "A-{i},Company_{i},FinTech,US,{},organic,Pro,{},False,False",
                date(i),
                i % 90 + 1
            )
        }),
    );
    write(
        dir,
        "subscriptions.csv",
        "subscription_id,account_id,start_date,end_date,plan_tier,seats,mrr_amount,arr_amount,is_trial,upgrade_flag,downgrade_flag,churn_flag,billing_frequency,auto_renew_flag",
        (0..SUBS).map(|i| {
            format!(
                "S-{i},A-{},{},,Pro,10,{},{},False,False,False,False,monthly,True",
                i % ACCOUNTS,
                date(i),
                i % 900,
                12 * (i % 900)
            )
        }),
    );
    write(
        dir,
        "feature_usage.csv",
        "usage_id,subscription_id,usage_date,feature_name,usage_count,usage_duration_secs,error_count,is_beta_feature",
        (0..USAGE).map(|i| {
            format!(
                "U-{i},S-{},{},feature_{},{},{},{},False",
                i % SUBS,
                date(i),
                i % 40 + 1,
                i % 27,
                i % 12_000,
                i % 3
            )
        }),
    );
    write(
        dir,
        "support_tickets.csv",
        "ticket_id,account_id,submitted_at,closed_at,resolution_time_hours,priority,first_response_time_minutes,satisfaction_score,escalation_flag",
        (0..ACCOUNTS * 4).map(|i| {
            format!(
                "T-{i},A-{},{},{} 03:00:00,27.0,high,74,4.0,False",
                i % ACCOUNTS,
                date(i),
                date(i)
            )
        }),
    );
    write(
        dir,
        "churn_events.csv",
        "churn_event_id,account_id,churn_date,reason_code,refund_amount_usd,preceding_upgrade_flag,preceding_downgrade_flag,is_reactivation,feedback_text",
        (0..300).map(|i| {
            format!(
                "C-{i},A-{i},{},pricing,0.0,False,False,False,too expensive",
                date(i)
            )
        }),
    );
}

fn bench(c: &mut Criterion) {
    let data = tempfile::tempdir().unwrap();
    make_csvs(data.path());
    let mut group = c.benchmark_group("import");
    group.sample_size(10);
    group.bench_function("1M usage rows", |b| {
        b.iter_batched(
            || {
                let dir = tempfile::tempdir().unwrap();
                let ws = Workspace::open(&dir.path().join("bench.db")).unwrap();
                (dir, ws)
            },
            |(dir, mut ws)| {
                let report = import_dir(&mut ws, data.path(), ImportOptions::default()).unwrap();
                assert_eq!(report.rows[2].1, USAGE as u64);
                (dir, ws)
            },
            criterion::BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
