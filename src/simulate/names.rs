//! Names and ids for simulated records.

const FIRST: [&str; 40] = [
    "Acme",
    "Blue",
    "Cobalt",
    "Delta",
    "Ember",
    "Falcon",
    "Granite",
    "Harbor",
    "Iris",
    "Juniper",
    "Kestrel",
    "Lumen",
    "Maple",
    "Nimbus",
    "Orbit",
    "Pioneer",
    "Quartz",
    "Redwood",
    "Summit",
    "Tidal",
    "Umber",
    "Vertex",
    "Willow",
    "Xenon",
    "Yarrow",
    "Zephyr",
    "Aurora",
    "Beacon",
    "Cinder",
    "Drift",
    "Echo",
    "Fjord",
    "Glacier",
    "Helix",
    "Indigo",
    "Jade",
    "Keystone",
    "Lattice",
    "Meridian",
    "Northwind",
];
const SECOND: [&str; 40] = [
    "Analytics",
    "Bank",
    "Bio",
    "Cloud",
    "Code",
    "Data",
    "Dynamics",
    "Edu",
    "Energy",
    "Finance",
    "Forge",
    "Health",
    "Insight",
    "Labs",
    "Learning",
    "Logic",
    "Media",
    "Metrics",
    "Networks",
    "Ops",
    "Pay",
    "Pharma",
    "Robotics",
    "Scale",
    "Secure",
    "Shield",
    "Signal",
    "Soft",
    "Stack",
    "Systems",
    "Tech",
    "Trust",
    "Vault",
    "Vision",
    "Wave",
    "Works",
    "Wealth",
    "Ledger",
    "Care",
    "Mind",
];
const SUFFIX: [&str; 8] = ["Inc", "Ltd", "GmbH", "Group", "Co", "LLC", "PLC", "Corp"];

/// A company name; distinct for the first 12,800 indices, numbered after that.
pub fn company(i: usize) -> String {
    let n = FIRST.len() * SECOND.len() * SUFFIX.len();
    // Spread consecutive indices over the name space (multiplier coprime to n).
    let k = (i * 7919) % n;
    let base = format!(
        "{} {} {}",
        FIRST[k % FIRST.len()],
        SECOND[(k / FIRST.len()) % SECOND.len()],
        SUFFIX[k / (FIRST.len() * SECOND.len())]
    );
    if i < n {
        base
    } else {
        format!("{base} {}", i / n + 1)
    }
}

const CSMS: [&str; 24] = [
    "Dana Kim",
    "Lee Alvarez",
    "Priya Nair",
    "Tom Becker",
    "Sofia Rossi",
    "Omar Haddad",
    "Mei Chen",
    "Jonas Berg",
    "Ava Murphy",
    "Ravi Patel",
    "Lucía Gómez",
    "Noah Clarke",
    "Hana Sato",
    "Felix Wagner",
    "Zara Ahmed",
    "Ethan Brooks",
    "Ines Dubois",
    "Kofi Mensah",
    "Maya Levin",
    "Arjun Rao",
    "Chloe Martin",
    "Luca Bianchi",
    "Nora Jensen",
    "Sam Okafor",
];

pub fn csm(i: usize) -> String {
    CSMS.get(i)
        .map(|s| s.to_string())
        .unwrap_or_else(|| format!("CSM {}", i + 1))
}

/// A unique id like the contract's (`A-2e4581`): the counter scrambled by a bijection
/// of 0..2^24, so ids look random but never collide; wider beyond 2^24.
pub fn id(prefix: char, i: u64) -> String {
    const SPACE: u64 = 1 << 24;
    if i < SPACE {
        format!(
            "{prefix}-{:06x}",
            (i.wrapping_mul(0x9E3779) ^ 0x5A5A5A) % SPACE
        )
    } else {
        format!("{prefix}-{i:010x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_and_names_are_unique() {
        let ids: HashSet<String> = (0..200_000).map(|i| id('U', i)).collect();
        assert_eq!(ids.len(), 200_000);
        let names: HashSet<String> = (0..20_000).map(company).collect();
        assert_eq!(names.len(), 20_000);
        assert_eq!(id('A', 0).len(), 8);
    }
}
