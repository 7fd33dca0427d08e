//! A bundle's checkout as its saga holds it: the legs with their split and escrow, the payment,
//! and the provider calls it waits for. Statuses are the names the snapshot and the read model show.

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use souk_schemas::bundles::BundleLeg;
use souk_schemas::payments::{CheckoutLeg, CheckoutRequested};
use std::collections::BTreeMap;

/// Where the saga stands (rules CO1–CO5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Every leg's partner is asked to reserve it.
    Reserving,
    /// Every leg reserved; the total is being authorised.
    Authorizing,
    /// Authorised and every leg confirmed; the total is being captured.
    Capturing,
    /// Captured, split and held in escrow leg by leg.
    Paid,
    /// Every leg released or refunded, the affiliate paid. Final.
    Completed,
    /// A step failed; the authorisation is being voided.
    Cancelling,
    /// Compensated: nothing is owed to or by anyone. Final.
    Cancelled,
}

impl Stage {
    /// The snapshot's name.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Reserving => "reserving",
            Stage::Authorizing => "authorizing",
            Stage::Capturing => "capturing",
            Stage::Paid => "paid",
            Stage::Completed => "completed",
            Stage::Cancelling => "cancelling",
            Stage::Cancelled => "cancelled",
        }
    }

    /// The saga has not reached the money yet: the bundle's legs must not change under it.
    pub fn before_payment(self) -> bool {
        matches!(self, Stage::Reserving | Stage::Authorizing | Stage::Capturing | Stage::Cancelling)
    }
}

/// Leg statuses.
#[allow(missing_docs)]
pub mod leg {
    pub const RESERVING: &str = "reserving";
    pub const RESERVED: &str = "reserved";
    pub const REFUSED: &str = "refused";
    pub const RELEASED: &str = "released";
    pub const CONFIRMED: &str = "confirmed";
    pub const CANCELLED: &str = "cancelled";
    pub const REPLACED: &str = "replaced";
    /// A replacement leg whose own charge is being made.
    pub const CHARGING: &str = "charging";
    /// A replacement leg whose charge failed.
    pub const UNPAID: &str = "unpaid";
}

/// Escrow statuses of a leg.
#[allow(missing_docs)]
pub mod escrow {
    pub const NONE: &str = "none";
    pub const HELD: &str = "held";
    pub const RELEASING: &str = "releasing";
    pub const RELEASED: &str = "released";
    pub const REFUNDING: &str = "refunding";
    pub const REFUNDED: &str = "refunded";
}

/// How a leg's price is split (rules CO4): the platform's commission is the product's margin
/// percent of the price, the affiliate's share comes out of that commission, the partner gets
/// the rest. Each part is rounded to the cent once; the parts always add up to the price.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Split {
    /// What the partner is paid.
    pub partner_share: Decimal,
    /// The affiliate's share included.
    pub platform_fee: Decimal,
    /// The affiliate's part of the platform's commission.
    pub affiliate_commission: Decimal,
}

/// Half-cent rounding away from zero, the provider's convention for a computed amount.
fn cents(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

impl Split {
    /// The split of `price` at `margin_percent` (none = 0) with `affiliate_percent` of the
    /// commission going to the affiliate.
    pub fn of(price: Decimal, margin_percent: Option<Decimal>, affiliate_percent: Option<Decimal>) -> Split {
        let hundred = Decimal::ONE_HUNDRED;
        let platform_fee = cents(price * margin_percent.unwrap_or_default() / hundred).clamp(Decimal::ZERO, price);
        let affiliate_commission = cents(platform_fee * affiliate_percent.unwrap_or_default() / hundred).clamp(Decimal::ZERO, platform_fee);
        Split { partner_share: price - platform_fee, platform_fee, affiliate_commission }
    }
}

/// One leg of the checkout: the snapshot it shows plus what the saga needs to act on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaidLeg {
    /// What the snapshot shows of it.
    pub view: CheckoutLeg,
    /// The bundle leg as checked out (partner contact, deadline, payout account, margin).
    pub leg: BundleLeg,
    /// A re-sourced leg's replacement, charged on its own (not part of the checkout's total).
    #[serde(default)]
    pub replacement: bool,
}

impl PaidLeg {
    /// A leg about to be reserved, split for `affiliate_percent`.
    pub fn new(leg: &BundleLeg, affiliate_percent: Option<Decimal>, negotiation_id: Option<String>, status: &str) -> PaidLeg {
        let split = Split::of(leg.price, leg.margin_percent, affiliate_percent);
        PaidLeg {
            view: CheckoutLeg {
                leg_id: leg.leg_id.clone(),
                partner_id: leg.partner_id.clone(),
                partner_name: leg.partner_name.clone(),
                item: leg.item.clone(),
                amount: leg.price,
                partner_share: split.partner_share,
                platform_fee: split.platform_fee,
                affiliate_commission: split.affiliate_commission,
                status: status.to_string(),
                escrow_status: escrow::NONE.to_string(),
                release_trigger: None,
                transfer_id: None,
                refund_id: None,
                payment_intent_id: None,
                negotiation_id,
            },
            leg: leg.clone(),
            replacement: false,
        }
    }

    /// In `status`.
    pub fn is(&self, status: &str) -> bool {
        self.view.status == status
    }

    /// Its escrow is in `status`.
    pub fn escrow_is(&self, status: &str) -> bool {
        self.view.escrow_status == status
    }

    /// Sets the status.
    pub fn set(&mut self, status: &str) {
        self.view.status = status.to_string();
    }

    /// Sets the escrow status.
    pub fn set_escrow(&mut self, status: &str) {
        self.view.escrow_status = status.to_string();
    }
}

/// What a pending provider call is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// A `souk_schemas::payments::action` name.
    pub action: String,
    /// The leg it is about (index into [`Checkout::legs`]), if any.
    pub leg: Option<usize>,
}

/// The affiliate's commission, paid when the escrow is settled (rules CO7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AffiliateStatus {
    /// No affiliate, or no commission.
    None,
    /// Owed once the escrow is settled.
    Pending,
    /// Its transfer is being made.
    Transferring,
    /// Paid.
    Transferred,
    /// Nothing is owed: the checkout was cancelled or every leg refunded.
    Cancelled,
}

impl AffiliateStatus {
    /// The snapshot's name.
    pub fn name(self) -> &'static str {
        match self {
            AffiliateStatus::None => "none",
            AffiliateStatus::Pending => "pending",
            AffiliateStatus::Transferring => "transferring",
            AffiliateStatus::Transferred => "transferred",
            AffiliateStatus::Cancelled => "cancelled",
        }
    }
}

/// One checkout of a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkout {
    /// The request that started it.
    pub request: CheckoutRequested,
    /// Where the saga stands.
    pub stage: Stage,
    /// `pending`, `authorized`, `captured`, `voided`, `failed`, `partially_refunded` or `refunded`.
    pub payment_status: String,
    /// The provider's PaymentIntent of the total, once authorised.
    pub payment_intent_id: Option<String>,
    /// Of every leg.
    pub currency: String,
    /// The legs as checked out, then any replacements.
    pub legs: Vec<PaidLeg>,
    /// Captured so far (the total, then replacement charges).
    pub captured: Decimal,
    /// Refunded so far.
    pub refunded: Decimal,
    /// Paid out of escrow so far (partners and the affiliate).
    pub released: Decimal,
    /// The affiliate's commission.
    pub affiliate: AffiliateStatus,
    /// Why it was cancelled (the first failure).
    pub reason: Option<String>,
    /// Provider calls asked for and not answered yet, by command id.
    pub pending: BTreeMap<String, Pending>,
}

impl Checkout {
    /// What the checkout's payment is for: every leg as checked out (replacements are charged
    /// on their own).
    pub fn total(&self) -> Decimal {
        self.legs.iter().filter(|l| !l.replacement).map(|l| l.view.amount).sum()
    }

    /// The platform's commission on the legs still paid for.
    pub fn platform_fee(&self) -> Decimal {
        self.paid_legs().map(|l| l.view.platform_fee).sum()
    }

    /// The affiliate's commission on the legs still paid for.
    pub fn affiliate_commission(&self) -> Decimal {
        self.paid_legs().map(|l| l.view.affiliate_commission).sum()
    }

    fn paid_legs(&self) -> impl Iterator<Item = &PaidLeg> {
        self.legs.iter().filter(|l| !l.escrow_is(escrow::REFUNDED) && !l.escrow_is(escrow::REFUNDING) && !l.is(leg::UNPAID) && !l.is(leg::CHARGING))
    }

    /// The account-level escrow status: `none` before capture, `held` while any leg is held,
    /// else `refunded` when nothing was released, else `released`.
    pub fn escrow_status(&self) -> &'static str {
        let with_escrow: Vec<&PaidLeg> = self.legs.iter().filter(|l| !l.escrow_is(escrow::NONE)).collect();
        if with_escrow.is_empty() {
            escrow::NONE
        } else if with_escrow.iter().any(|l| [escrow::HELD, escrow::RELEASING, escrow::REFUNDING].contains(&l.view.escrow_status.as_str())) {
            escrow::HELD
        } else if with_escrow.iter().all(|l| l.escrow_is(escrow::REFUNDED)) {
            escrow::REFUNDED
        } else {
            escrow::RELEASED
        }
    }

    /// The current (not replaced) leg `leg_id`.
    pub fn leg_index(&self, leg_id: &str) -> Option<usize> {
        self.legs.iter().position(|l| l.view.leg_id == leg_id && !l.is(leg::REPLACED))
    }
}
