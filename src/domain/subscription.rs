//! Subscriptions: what the contract's `Subscriptions/*` calls decide. The
//! checks of an order (the same for `CheckOnly` and the real call), the
//! status transitions, and what a Create or Update does to what is stored.

use std::collections::BTreeMap;

use super::catalog::ProductType;
use super::customer::CustomerStatus;
use super::{Rejection, ResultCode};

/// A subscription's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubscriptionStatus {
    Active,
    Suspended,
    /// Final: nothing changes a cancelled subscription.
    Cancelled,
}

impl SubscriptionStatus {
    pub const ALL: [SubscriptionStatus; 3] = [Self::Active, Self::Suspended, Self::Cancelled];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// Who made a change: the BSS, an operator, or (later) a partner platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeSource {
    Bss,
    Console,
    Distributor,
    MemberPlatform,
}

impl ChangeSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bss => "bss",
            Self::Console => "console",
            Self::Distributor => "distributor",
            Self::MemberPlatform => "member_platform",
        }
    }
}

/// What a history row records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeKind {
    Created,
    Quantity,
    Plan,
    Status,
    /// The attribute values changed (quantity, plan and status as they were).
    Attributes,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Quantity => "quantity",
            Self::Plan => "plan",
            Self::Status => "status",
            Self::Attributes => "attributes",
        }
    }
}

/// A status action of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusAction {
    Activate,
    Suspend,
    Cancel,
}

impl StatusAction {
    fn target(self) -> SubscriptionStatus {
        match self {
            Self::Activate => SubscriptionStatus::Active,
            Self::Suspend => SubscriptionStatus::Suspended,
            Self::Cancel => SubscriptionStatus::Cancelled,
        }
    }
}

/// The status a subscription goes to: `Ok(None)` when it already has it
/// (a retry), a refusal when it is cancelled (final).
pub fn transition(
    from: SubscriptionStatus,
    action: StatusAction,
) -> Result<Option<SubscriptionStatus>, Rejection> {
    let to = action.target();
    if from == to {
        return Ok(None);
    }
    if from == SubscriptionStatus::Cancelled {
        return Err(cancelled());
    }
    Ok(Some(to))
}

/// The refusal of any change to a cancelled subscription.
pub fn cancelled() -> Rejection {
    Rejection::new(
        ResultCode::SubscriptionCancelled,
        "The subscription is cancelled; a cancelled subscription cannot be changed or re-activated. Create a new one.",
    )
}

/// The facts an order is checked against.
#[derive(Debug, Clone)]
pub struct OrderFacts<'a> {
    pub customer_status: CustomerStatus,
    /// `None`: the ServiceType is not a declared product type.
    pub product_type: Option<&'a ProductType>,
    pub product_type_id: &'a str,
    /// Whether the plan (when there is one already) is deprecated.
    pub plan_deprecated: bool,
    /// Whether the order changes the subscription's plan (always on a new
    /// subscription): a deprecated plan is kept, never sold again.
    pub plan_is_new: bool,
    pub quantity: i64,
    /// The plan's attribute values and the order's, the order's winning.
    pub attribute_values: &'a BTreeMap<String, String>,
    /// The customer's other subscriptions of this product type, not cancelled
    /// (for an add-on: the parent's other add-ons of this type).
    pub other_subscriptions_of_type: i64,
    /// `Some` when the order is for an add-on.
    pub addon: Option<AddonFacts>,
}

/// What an add-on order is checked against besides the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddonFacts {
    /// The status of the subscription the add-on belongs to.
    pub parent_status: SubscriptionStatus,
    /// Whether the catalog sells the product type as an add-on.
    pub type_is_addon: bool,
}

/// The most units a subscription can hold (the stored column's range).
pub const MAX_QUANTITY: i64 = i32::MAX as i64;

/// The first refusal of an order, checked in the order the shop customer
/// can act on them. The same for `CheckOnly` and the real call.
pub fn check_order(facts: &OrderFacts<'_>) -> Result<(), Rejection> {
    match facts.customer_status {
        CustomerStatus::Active => {}
        CustomerStatus::Suspended => {
            return Err(Rejection::new(
                ResultCode::CustomerNotActive,
                "Your account is suspended. Please contact our support team before ordering.",
            ))
        }
        CustomerStatus::Deleted => {
            return Err(Rejection::new(
                ResultCode::CustomerDeleted,
                "The customer was deleted; it can have no subscriptions.",
            ))
        }
    }
    let Some(product_type) = facts.product_type else {
        return Err(Rejection::new(
            ResultCode::UnknownProductType,
            format!(
                "ServiceType {:?} is not a product type of this service manager (see Fields/ServiceDefinition).",
                facts.product_type_id
            ),
        ));
    };
    if let Some(addon) = facts.addon {
        if !addon.type_is_addon {
            return Err(Rejection::new(
                ResultCode::NotAnAddon,
                format!(
                    "{} cannot be added to a subscription. Please order it on its own.",
                    product_type.name
                ),
            ));
        }
        if addon.parent_status != SubscriptionStatus::Active {
            return Err(Rejection::new(
                ResultCode::ParentNotActive,
                "The subscription this add-on is for is not active. Please re-activate it first.",
            ));
        }
    }
    if facts.plan_is_new && facts.plan_deprecated {
        return Err(Rejection::new(
            ResultCode::PlanNotSold,
            "This plan is no longer sold. Please choose another plan.",
        ));
    }
    let limit = product_type.quantity_limit.map(i64::from);
    let max = limit.unwrap_or(MAX_QUANTITY).min(MAX_QUANTITY);
    if facts.quantity < 1 || facts.quantity > max {
        let message = match limit {
            Some(limit) => format!("Please order between 1 and {limit}."),
            None if facts.quantity < 1 => "Please order at least 1.".to_owned(),
            None => format!("Please order at most {max}."),
        };
        return Err(Rejection::new(ResultCode::QuantityOutOfRange, message));
    }
    if let Some(missing) = product_type.attributes.iter().find(|a| {
        a.is_required
            && facts
                .attribute_values
                .get(&a.id)
                .is_none_or(|v| v.trim().is_empty())
    }) {
        return Err(Rejection::new(
            ResultCode::AttributeRequired,
            format!("Please choose a value for {}.", missing.name),
        ));
    }
    if !product_type.allow_multiple_subscriptions && facts.other_subscriptions_of_type > 0 {
        return Err(Rejection::new(
            ResultCode::OneSubscriptionOnly,
            format!(
                "You already have a {} subscription. Please change it instead of ordering another.",
                product_type.name
            ),
        ));
    }
    Ok(())
}

/// A quantity may not drop below the seats mailboxes hold: the shop
/// customer frees mailboxes first. Checked only when the quantity goes down,
/// so a subscription already over (an older quantity) can still change its
/// plan or attributes.
pub fn check_seats_in_use(
    old_quantity: i64,
    new_quantity: i64,
    in_use: i64,
) -> Result<(), Rejection> {
    if new_quantity >= old_quantity || new_quantity >= in_use {
        return Ok(());
    }
    let mailboxes = |n: i64| {
        if n == 1 {
            "mailbox uses"
        } else {
            "mailboxes use"
        }
    };
    Err(Rejection::new(
        ResultCode::SeatsInUse,
        format!(
            "{in_use} {} this subscription, more than the {new_quantity} ordered. \
             Remove or deprovision {} first.",
            mailboxes(in_use),
            if in_use - new_quantity == 1 {
                "1 mailbox".to_owned()
            } else {
                format!("{} mailboxes", in_use - new_quantity)
            }
        ),
    ))
}

/// The part of a subscription an order sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terms {
    pub plan_id: i64,
    pub quantity: i64,
    pub attribute_values: BTreeMap<String, String>,
}

/// What an order does to a subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderDecision {
    /// No subscription yet: create it.
    New,
    /// The same terms again (a retry, a repeated order): write nothing.
    Unchanged,
    /// The history rows to write: `quantity` and `plan` changes (either or
    /// both), and whether the attributes changed.
    Change {
        quantity: Option<(i64, i64)>,
        plan: Option<(i64, i64)>,
        attributes_changed: bool,
    },
}

/// Decides a Create or an Update against the stored subscription, if any.
/// A cancelled subscription is final.
pub fn decide_order(
    current: Option<(&Terms, SubscriptionStatus)>,
    requested: &Terms,
) -> Result<OrderDecision, Rejection> {
    let Some((current, status)) = current else {
        return Ok(OrderDecision::New);
    };
    if status == SubscriptionStatus::Cancelled {
        return Err(cancelled());
    }
    if current == requested {
        return Ok(OrderDecision::Unchanged);
    }
    Ok(OrderDecision::Change {
        quantity: (current.quantity != requested.quantity)
            .then_some((current.quantity, requested.quantity)),
        plan: (current.plan_id != requested.plan_id)
            .then_some((current.plan_id, requested.plan_id)),
        attributes_changed: current.attribute_values != requested.attribute_values,
    })
}

/// A new subscription's public id: `sub_` and a lower-case ULID.
pub fn new_subscription_id() -> String {
    format!("sub_{}", ulid::Ulid::new().to_string().to_lowercase())
}

/// The key of `ExtraInfo` (sent back as `ExtraDetails`) holding our id.
pub const SUBSCRIPTION_ID_KEY: &str = "subscription_id";

/// What the BSS is asked to keep and send back.
pub fn extra_info(public_id: &str, customer_external_id: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (SUBSCRIPTION_ID_KEY.to_owned(), public_id.to_owned()),
        (
            super::customer::CUSTOMER_ID_KEY.to_owned(),
            customer_external_id.to_owned(),
        ),
    ])
}

/// The key of an add-on's `ExtraInfo` holding our id of the add-on (its
/// `subscription_id` is the parent's).
pub const ADDON_ID_KEY: &str = "addon_id";

/// What the BSS is asked to keep and send back for an add-on.
pub fn addon_extra_info(
    addon_id: &str,
    parent_id: &str,
    customer_external_id: &str,
) -> BTreeMap<String, String> {
    let mut info = extra_info(parent_id, customer_external_id);
    info.insert(ADDON_ID_KEY.to_owned(), addon_id.to_owned());
    info
}

/// One subscription's state after a history row, for the seats query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateAfter {
    pub subscription_id: i64,
    pub plan_id: i64,
    pub quantity: i64,
    pub status: SubscriptionStatus,
}

/// Seats of `plan_id` held at a date: `states` are the history rows up to
/// that date, in order; each subscription's last one counts, when it is on
/// the plan and not cancelled (a suspended subscription still holds its seats).
pub fn seats_held(states: &[StateAfter], plan_id: i64) -> i64 {
    let mut last: BTreeMap<i64, StateAfter> = BTreeMap::new();
    for state in states {
        last.insert(state.subscription_id, *state);
    }
    last.values()
        .filter(|s| s.plan_id == plan_id && s.status != SubscriptionStatus::Cancelled)
        .map(|s| s.quantity)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::catalog::{AttributeDefinition, AttributeKind, AttributeUsage, Scope};

    fn mailbox(limit: Option<i32>, multiple: bool) -> ProductType {
        ProductType {
            id: "hosted_mailbox".into(),
            name: "Hosted mailbox".into(),
            description: None,
            portal_url: None,
            allow_multiple_subscriptions: multiple,
            quantity_limit: limit,
            scope: Scope::Customer,
            is_addon: false,
            attributes: vec![AttributeDefinition {
                id: "storage_gb".into(),
                sort_order: 0,
                name: "Storage per mailbox (GB)".into(),
                description: None,
                usage: AttributeUsage::ProductCharacteristic,
                kind: AttributeKind::Numeric,
                is_required: true,
                linked_to_quantity: true,
                allow_unlimited: false,
                predefined_values: vec![],
                slider_min: None,
                slider_max: None,
                slider_step: None,
            }],
        }
    }

    fn facts<'a>(
        product_type: Option<&'a ProductType>,
        values: &'a BTreeMap<String, String>,
    ) -> OrderFacts<'a> {
        OrderFacts {
            customer_status: CustomerStatus::Active,
            product_type,
            product_type_id: "hosted_mailbox",
            plan_deprecated: false,
            plan_is_new: true,
            quantity: 5,
            attribute_values: values,
            other_subscriptions_of_type: 0,
            addon: None,
        }
    }

    fn code(result: Result<(), Rejection>) -> Option<ResultCode> {
        result.err().map(|r| r.code)
    }

    #[test]
    fn each_check_refuses_with_its_code() {
        let t = mailbox(Some(10), false);
        let values = BTreeMap::from([("storage_gb".to_owned(), "50".to_owned())]);
        assert_eq!(code(check_order(&facts(Some(&t), &values))), None);

        let mut f = facts(Some(&t), &values);
        f.customer_status = CustomerStatus::Suspended;
        assert_eq!(code(check_order(&f)), Some(ResultCode::CustomerNotActive));
        f.customer_status = CustomerStatus::Deleted;
        assert_eq!(code(check_order(&f)), Some(ResultCode::CustomerDeleted));

        let f = facts(None, &values);
        assert_eq!(code(check_order(&f)), Some(ResultCode::UnknownProductType));
        assert!(!ResultCode::UnknownProductType.is_storefront_visible());

        let mut f = facts(Some(&t), &values);
        f.plan_deprecated = true;
        assert_eq!(code(check_order(&f)), Some(ResultCode::PlanNotSold));
        f.plan_is_new = false;
        assert_eq!(
            code(check_order(&f)),
            None,
            "a kept deprecated plan is fine"
        );

        for quantity in [0, -1, 11] {
            let mut f = facts(Some(&t), &values);
            f.quantity = quantity;
            assert_eq!(code(check_order(&f)), Some(ResultCode::QuantityOutOfRange));
        }

        let empty = BTreeMap::new();
        let f = facts(Some(&t), &empty);
        assert_eq!(code(check_order(&f)), Some(ResultCode::AttributeRequired));

        let mut f = facts(Some(&t), &values);
        f.other_subscriptions_of_type = 1;
        assert_eq!(code(check_order(&f)), Some(ResultCode::OneSubscriptionOnly));
        let multiple = mailbox(None, true);
        let mut f = facts(Some(&multiple), &values);
        f.other_subscriptions_of_type = 1;
        f.quantity = 100_000;
        assert_eq!(code(check_order(&f)), None);

        // Beyond what a subscription can hold: refused, not clamped.
        f.quantity = MAX_QUANTITY + 1;
        assert_eq!(code(check_order(&f)), Some(ResultCode::QuantityOutOfRange));
        f.quantity = MAX_QUANTITY;
        assert_eq!(code(check_order(&f)), None);
    }

    #[test]
    fn addon_checks_refuse_with_their_codes() {
        let t = mailbox(None, true);
        let values = BTreeMap::from([("storage_gb".to_owned(), "50".to_owned())]);
        let mut f = facts(Some(&t), &values);
        f.addon = Some(AddonFacts {
            parent_status: SubscriptionStatus::Active,
            type_is_addon: true,
        });
        assert_eq!(code(check_order(&f)), None);
        f.addon = Some(AddonFacts {
            parent_status: SubscriptionStatus::Suspended,
            type_is_addon: true,
        });
        assert_eq!(code(check_order(&f)), Some(ResultCode::ParentNotActive));
        f.addon = Some(AddonFacts {
            parent_status: SubscriptionStatus::Active,
            type_is_addon: false,
        });
        assert_eq!(code(check_order(&f)), Some(ResultCode::NotAnAddon));
        for code in [ResultCode::ParentNotActive, ResultCode::NotAnAddon] {
            assert!(code.is_storefront_visible());
        }
    }

    #[test]
    fn storefront_codes_are_storefront_visible() {
        for code in [
            ResultCode::CustomerNotActive,
            ResultCode::PlanNotSold,
            ResultCode::QuantityOutOfRange,
            ResultCode::AttributeRequired,
            ResultCode::OneSubscriptionOnly,
        ] {
            assert!(code.is_storefront_visible());
        }
    }

    #[test]
    fn cancelled_is_final() {
        use StatusAction::*;
        use SubscriptionStatus::*;
        assert_eq!(transition(Active, Suspend), Ok(Some(Suspended)));
        assert_eq!(transition(Suspended, Activate), Ok(Some(Active)));
        assert_eq!(transition(Active, Activate), Ok(None));
        assert_eq!(transition(Suspended, Cancel), Ok(Some(Cancelled)));
        assert_eq!(transition(Cancelled, Cancel), Ok(None));
        assert_eq!(
            transition(Cancelled, Activate).map_err(|r| r.code),
            Err(ResultCode::SubscriptionCancelled)
        );
        assert!(transition(Cancelled, Suspend).is_err());
    }

    #[test]
    fn orders_decide_new_unchanged_or_change() {
        let terms = Terms {
            plan_id: 1,
            quantity: 5,
            attribute_values: BTreeMap::new(),
        };
        assert_eq!(decide_order(None, &terms), Ok(OrderDecision::New));
        assert_eq!(
            decide_order(Some((&terms, SubscriptionStatus::Active)), &terms),
            Ok(OrderDecision::Unchanged)
        );
        let more = Terms {
            quantity: 8,
            plan_id: 2,
            ..terms.clone()
        };
        assert_eq!(
            decide_order(Some((&terms, SubscriptionStatus::Suspended)), &more),
            Ok(OrderDecision::Change {
                quantity: Some((5, 8)),
                plan: Some((1, 2)),
                attributes_changed: false
            })
        );
        assert!(decide_order(Some((&terms, SubscriptionStatus::Cancelled)), &more).is_err());
    }

    #[test]
    fn seats_count_the_last_state_of_each_subscription() {
        let s = |subscription_id, plan_id, quantity, status| StateAfter {
            subscription_id,
            plan_id,
            quantity,
            status,
        };
        use SubscriptionStatus::*;
        let states = [
            s(1, 7, 5, Active),
            s(2, 7, 3, Active),
            s(1, 7, 8, Active),
            s(2, 9, 3, Active),
            s(3, 7, 2, Active),
            s(3, 7, 2, Cancelled),
            s(4, 7, 1, Suspended),
        ];
        assert_eq!(seats_held(&states, 7), 9);
        assert_eq!(seats_held(&states, 9), 3);
        assert_eq!(seats_held(&states[..2], 7), 8);
    }

    #[test]
    fn a_quantity_never_drops_below_the_seats_in_use() {
        assert!(check_seats_in_use(10, 6, 6).is_ok());
        assert!(check_seats_in_use(10, 12, 11).is_ok());
        // Not lowered: an older overrun does not block other changes.
        assert!(check_seats_in_use(5, 5, 7).is_ok());
        let refused = check_seats_in_use(10, 4, 6).unwrap_err();
        assert_eq!(refused.code, ResultCode::SeatsInUse);
        assert!(refused.code.is_storefront_visible());
        assert!(
            refused
                .message
                .contains("6 mailboxes use this subscription")
                && refused.message.contains("2 mailboxes first"),
            "{}",
            refused.message
        );
        let one = check_seats_in_use(3, 0, 1).unwrap_err();
        assert!(one.message.starts_with("1 mailbox uses"), "{}", one.message);
    }
}
