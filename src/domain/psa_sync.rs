//! What the PSA quantity sync changes on one agreement (seed 002): the
//! quantities Mailroom bills, per catalog item, against the agreement's
//! additions. Quantities only; additions of products no plan is mapped to
//! are never touched.

use std::collections::BTreeMap;

/// One desired line: a mapped plan's quantity for the customer, under the
/// catalog item it is mapped to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DesiredLine {
    pub catalog_item_id: i64,
    pub quantity: i64,
}

/// An addition on the agreement, as the PSA lists it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExistingAddition {
    pub id: i64,
    pub product_id: i64,
    /// The PSA keeps quantities as decimals.
    pub quantity: f64,
    /// Cancelled additions are history: never changed, never counted.
    pub cancelled: bool,
}

/// A write to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdditionChange {
    /// Replace the quantity of an existing addition.
    SetQuantity { addition_id: i64, quantity: i64 },
    /// Add the product to the agreement with this quantity.
    Create { product_id: i64, quantity: i64 },
}

/// A product with more than one live addition: the first is kept in step,
/// the others are left to an operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateAdditions {
    pub product_id: i64,
    pub kept: i64,
    pub ignored: Vec<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgreementDecision {
    pub changes: Vec<AdditionChange>,
    /// Products whose quantity already matches (or is 0 with no addition).
    pub unchanged: u64,
    pub duplicates: Vec<DuplicateAdditions>,
}

/// Decides the writes that bring one agreement's additions to `desired`.
/// Several lines of one catalog item (several plans mapped to it) add up.
pub fn decide(desired: &[DesiredLine], existing: &[ExistingAddition]) -> AgreementDecision {
    let mut wanted: BTreeMap<i64, i64> = BTreeMap::new();
    for line in desired {
        *wanted.entry(line.catalog_item_id).or_default() += line.quantity.max(0);
    }
    let mut live: BTreeMap<i64, Vec<&ExistingAddition>> = BTreeMap::new();
    for addition in existing.iter().filter(|addition| !addition.cancelled) {
        live.entry(addition.product_id).or_default().push(addition);
    }
    let mut decision = AgreementDecision::default();
    for (product_id, quantity) in wanted {
        let Some(mut additions) = live.remove(&product_id) else {
            if quantity > 0 {
                decision.changes.push(AdditionChange::Create {
                    product_id,
                    quantity,
                });
            } else {
                decision.unchanged += 1;
            }
            continue;
        };
        additions.sort_by_key(|addition| addition.id);
        let first = additions[0];
        if additions.len() > 1 {
            decision.duplicates.push(DuplicateAdditions {
                product_id,
                kept: first.id,
                ignored: additions[1..].iter().map(|addition| addition.id).collect(),
            });
        }
        if same_quantity(first.quantity, quantity) {
            decision.unchanged += 1;
        } else {
            decision.changes.push(AdditionChange::SetQuantity {
                addition_id: first.id,
                quantity,
            });
        }
    }
    decision
}

fn same_quantity(theirs: f64, ours: i64) -> bool {
    (theirs - ours as f64).abs() < 1e-6
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(catalog_item_id: i64, quantity: i64) -> DesiredLine {
        DesiredLine {
            catalog_item_id,
            quantity,
        }
    }

    fn addition(id: i64, product_id: i64, quantity: f64) -> ExistingAddition {
        ExistingAddition {
            id,
            product_id,
            quantity,
            cancelled: false,
        }
    }

    #[test]
    fn a_different_quantity_is_replaced_and_a_missing_addition_created() {
        let decision = decide(
            &[line(10, 12), line(20, 3), line(30, 5)],
            &[addition(1, 10, 10.0), addition(2, 20, 3.0)],
        );
        assert_eq!(
            decision.changes,
            vec![
                AdditionChange::SetQuantity {
                    addition_id: 1,
                    quantity: 12
                },
                AdditionChange::Create {
                    product_id: 30,
                    quantity: 5
                },
            ]
        );
        assert_eq!(decision.unchanged, 1);
        assert!(decision.duplicates.is_empty());
    }

    #[test]
    fn nothing_changed_decides_nothing() {
        let desired = [line(10, 12), line(20, 0)];
        let existing = [addition(1, 10, 12.0)];
        let decision = decide(&desired, &existing);
        assert!(decision.changes.is_empty());
        assert_eq!(decision.unchanged, 2);
    }

    #[test]
    fn a_missing_addition_with_nothing_to_bill_is_not_created() {
        assert!(decide(&[line(10, 0)], &[]).changes.is_empty());
    }

    #[test]
    fn zero_is_sent_to_an_existing_addition() {
        // A cancelled subscription counts 0: the addition follows.
        assert_eq!(
            decide(&[line(10, 0)], &[addition(1, 10, 4.0)]).changes,
            vec![AdditionChange::SetQuantity {
                addition_id: 1,
                quantity: 0
            }]
        );
    }

    #[test]
    fn additions_of_unmapped_products_are_never_touched() {
        let decision = decide(
            &[line(10, 2)],
            &[addition(1, 10, 2.0), addition(2, 99, 7.0)],
        );
        assert!(decision.changes.is_empty());
        assert_eq!(decision.unchanged, 1);
    }

    #[test]
    fn plans_mapped_to_one_catalog_item_add_up() {
        assert_eq!(
            decide(&[line(10, 2), line(10, 3)], &[addition(1, 10, 2.0)]).changes,
            vec![AdditionChange::SetQuantity {
                addition_id: 1,
                quantity: 5
            }]
        );
    }

    #[test]
    fn cancelled_additions_are_history() {
        let cancelled = ExistingAddition {
            cancelled: true,
            ..addition(1, 10, 9.0)
        };
        assert_eq!(
            decide(&[line(10, 4)], &[cancelled]).changes,
            vec![AdditionChange::Create {
                product_id: 10,
                quantity: 4
            }]
        );
    }

    #[test]
    fn of_several_live_additions_the_first_is_changed_and_the_rest_reported() {
        let decision = decide(
            &[line(10, 6)],
            &[
                addition(7, 10, 1.0),
                addition(3, 10, 2.0),
                addition(5, 10, 6.0),
            ],
        );
        assert_eq!(
            decision.changes,
            vec![AdditionChange::SetQuantity {
                addition_id: 3,
                quantity: 6
            }]
        );
        assert_eq!(
            decision.duplicates,
            vec![DuplicateAdditions {
                product_id: 10,
                kept: 3,
                ignored: vec![5, 7]
            }]
        );
    }

    #[test]
    fn decimal_quantities_compare_by_value() {
        assert!(decide(&[line(10, 3)], &[addition(1, 10, 3.0000001)])
            .changes
            .is_empty());
        assert_eq!(
            decide(&[line(10, 3)], &[addition(1, 10, 2.5)])
                .changes
                .len(),
            1
        );
    }
}
