//! Benefits: what a subject gets back for what they chose to share.

use std::collections::HashMap;

use crate::catalog::{Benefit, Catalog};
use crate::consent::{ConsentState, LatestRecord};

/// The benefits a subject has unlocked: every purpose they require is granted now.
pub fn unlocked<'a>(catalog: &'a Catalog, latest: &HashMap<String, LatestRecord>) -> Vec<&'a Benefit> {
    catalog
        .benefits
        .iter()
        .filter(|b| {
            !b.requires.is_empty()
                && b.requires.iter().all(|p| latest.get(p).is_some_and(|r| r.state == ConsentState::Granted))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::EXAMPLE_CATALOG;
    use crate::consent::Method;

    #[test]
    fn unlocked_only_with_every_required_grant() {
        let catalog = Catalog::parse(EXAMPLE_CATALOG).unwrap();
        let mut latest = HashMap::new();
        assert!(unlocked(&catalog, &latest).is_empty());
        let record = |state| LatestRecord { state, notice_version: 1, at_ms: 0, method: Method::Checkbox };
        latest.insert("newsletter".to_string(), record(ConsentState::Withdrawn));
        assert!(unlocked(&catalog, &latest).is_empty());
        latest.insert("newsletter".to_string(), record(ConsentState::Granted));
        assert_eq!(unlocked(&catalog, &latest)[0].id, "welcome10");
    }
}
