//! The bundle the negotiations belong to (rules BU1–BU3): its legs as ordered, their timeline from
//! the time chain, and the user's chat in its thread turned into negotiations and decisions.
//!
//! A bundle lives in the same keyed state as its negotiations (`<tenant>|<bundle id>`), so a change
//! request, the partner's answers and the leg replaced by re-sourcing are decided in one order.

use super::flow;
use super::state::{Bundle, NegotiationState, Status};
use super::NegotiationOutput as Out;
use crate::geo::Location;
use crate::time_chain::{self, Addition, Leg};
use rust_decimal::Decimal;
use souk_runtime::{Ctx, Rejection};
use souk_schemas::bundles::{BundleLeg, BundleRequested, BundleUpdated, ChatIntentResolved, ConflictSimulated, ItemAddRequested};
use souk_schemas::orchestration::{AlternativeFound, NegotiationRequested, UserDecided, UserNotified};

/// Most legs one bundle may have.
pub const MAX_LEGS: usize = 20;

/// Opens the bundle and tells its timeline (a redelivered request changes nothing).
pub fn requested(state: &mut NegotiationState, r: &BundleRequested, ctx: &mut Ctx<Out>) -> Result<(), Rejection> {
    if let Some(existing) = &state.bundle {
        return if existing.request.envelope.event_id == r.envelope.event_id { Ok(()) } else { Err(Rejection::new("BUNDLE_EXISTS", format!("bundle {} was already requested", r.bundle_id))) };
    }
    if r.legs.is_empty() || r.legs.len() > MAX_LEGS {
        return Err(Rejection::new("BAD_LEGS", format!("a bundle has 1 to {MAX_LEGS} legs, not {}", r.legs.len())));
    }
    for (i, leg) in r.legs.iter().enumerate() {
        if r.legs[..i].iter().any(|l| l.leg_id == leg.leg_id) {
            return Err(Rejection::new("DUPLICATE_LEG", format!("leg {} appears twice", leg.leg_id)));
        }
        if leg.price < Decimal::ZERO || leg.preparation_minutes < 0 || leg.deadline < leg.starts_at {
            return Err(Rejection::new("BAD_LEG", format!("leg {}: negative price or preparation, or deadline before start", leg.leg_id)));
        }
    }
    let bundle = Bundle { request: r.clone(), legs: r.legs.clone() };
    updated(ctx, &bundle, "open");
    state.bundle = Some(bundle);
    Ok(())
}

/// The time chain's view of the legs (rules TC1).
pub fn chain(legs: &[BundleLeg]) -> Vec<Leg> {
    legs.iter()
        .map(|l| Leg {
            leg_id: l.leg_id.clone(),
            name: l.name.clone(),
            pickup: Location { lat: l.partner_lat.0, lng: l.partner_lng.0 },
            prep_minutes: l.preparation_minutes,
            destination: Location { lat: l.destination_lat.0, lng: l.destination_lng.0 },
            deadline: l.deadline,
        })
        .collect()
}

/// Minutes from now until `leg` would arrive if ordered now: its preparation and the ride.
pub fn arrival_minutes(leg: &BundleLeg) -> i64 {
    let l = &chain(std::slice::from_ref(leg))[0];
    l.prep_minutes + time_chain::travel_minutes(l.pickup, l.destination)
}

/// The bundle's snapshot with every leg's arrival and the total time.
fn updated(ctx: &mut Ctx<Out>, b: &Bundle, status: &str) {
    let start = b.request.starts_at;
    let chain = chain(&b.legs);
    let legs = b.legs.iter().zip(&chain).map(|(l, c)| BundleLeg { arrives_at: Some(time_chain::arrival(c, start)), ..l.clone() }).collect();
    let r = &b.request;
    let snapshot = BundleUpdated {
        envelope: ctx.envelope(),
        bundle_id: r.bundle_id.clone(),
        user_id: r.user_id.clone(),
        thread_id: r.thread_id.clone(),
        status: status.to_string(),
        starts_at: start,
        total_minutes: time_chain::total_minutes(&chain, start),
        legs,
    };
    ctx.emit(ctx.key().to_string(), Out::BundleUpdated(snapshot));
}

/// The replacement's effect on the bundle's total time, when the bundle and the replacement's
/// whereabouts are known; otherwise what re-sourcing estimated.
pub fn recovery_delay(state: &NegotiationState, leg_id: &str, a: &AlternativeFound) -> i64 {
    let Some(b) = &state.bundle else { return a.delay_minutes };
    let (Some(lat), Some(lng), Some(prep)) = (a.partner_lat, a.partner_lng, a.preparation_minutes) else { return a.delay_minutes };
    let before = time_chain::total_minutes(&chain(&b.legs), b.request.starts_at);
    let legs: Vec<BundleLeg> = b.legs.iter().map(|l| if l.leg_id == leg_id { BundleLeg { partner_lat: lat, partner_lng: lng, preparation_minutes: prep, ..l.clone() } } else { l.clone() }).collect();
    time_chain::total_minutes(&chain(&legs), b.request.starts_at) - before
}

/// The leg now comes from the replacement partner (rules N7): the bundle and its timeline change.
pub fn replace_leg(state: &mut NegotiationState, leg_id: &str, a: &AlternativeFound, ctx: &mut Ctx<Out>) {
    let Some(b) = state.bundle.as_mut() else { return };
    let Some(leg) = b.legs.iter_mut().find(|l| l.leg_id == leg_id) else { return };
    leg.partner_id = a.partner_id.clone();
    leg.partner_name = a.partner_name.clone();
    leg.partner_contact = a.partner_contact.clone();
    leg.product_id = a.product_id.clone();
    leg.item = a.item.clone();
    leg.price = a.price;
    if let (Some(lat), Some(lng)) = (a.partner_lat, a.partner_lng) {
        (leg.partner_lat, leg.partner_lng) = (lat, lng);
    }
    if let Some(prep) = a.preparation_minutes {
        leg.preparation_minutes = prep;
    }
    if !a.capabilities.is_empty() {
        leg.capabilities = a.capabilities.clone();
    }
    leg.margin_percent = a.margin_percent;
    leg.payout_account = a.payout_account.clone();
    updated(ctx, b, "open");
}

/// A user's message, as the chat stage read it (rules BU2).
pub fn chat(state: &mut NegotiationState, c: &ChatIntentResolved, ctx: &mut Ctx<Out>) -> Result<(), Rejection> {
    let Some(bundle) = state.bundle.clone() else {
        return Err(Rejection::new("UNKNOWN_BUNDLE", format!("no bundle {} was requested", c.bundle_id)));
    };
    match c.intent.as_str() {
        "change_item" if super::checkout::locks_legs(state) => {
            tell(ctx, &bundle, "clarify", "Your checkout is in progress; you can change an item once it is paid.".into());
            Ok(())
        }
        "change_item" => change_item(state, &bundle, c, ctx),
        "approve" | "reject" => decide(state, &bundle, c, ctx),
        _ => {
            tell(ctx, &bundle, "clarify", "Sorry, I didn't understand. You can ask me to change an item, for example \"pink flowers instead of red\".".into());
            Ok(())
        }
    }
}

/// The leg a change names: the one whose item contains the original's words, else the one sharing a
/// word with the requested item; `None` when no leg or more than one fits.
pub fn leg_for_change<'b>(legs: &'b [BundleLeg], original: Option<&str>, requested: &str) -> Option<&'b BundleLeg> {
    let words = |s: &str| s.to_lowercase().split(|c: char| !c.is_alphanumeric()).filter(|w| w.len() > 2).map(str::to_string).collect::<Vec<_>>();
    let fits = |leg: &BundleLeg, wanted: &[String]| {
        let item = words(&leg.item);
        !wanted.is_empty() && wanted.iter().all(|w| item.iter().any(|i| i == w || i.trim_end_matches('s') == w.trim_end_matches('s')))
    };
    let only = |found: Vec<&'b BundleLeg>| if found.len() == 1 { Some(found[0]) } else { None };
    if let Some(original) = original {
        if let Some(leg) = only(legs.iter().filter(|l| fits(l, &words(original))).collect()) {
            return Some(leg);
        }
    }
    let requested = words(requested);
    only(legs.iter().filter(|l| requested.iter().any(|w| fits(l, std::slice::from_ref(w)))).collect())
}

fn change_item(state: &mut NegotiationState, bundle: &Bundle, c: &ChatIntentResolved, ctx: &mut Ctx<Out>) -> Result<(), Rejection> {
    let requested = c.requested_item.clone().unwrap_or_default();
    let Some(leg) = leg_for_change(&bundle.legs, c.original_item.as_deref(), &requested).cloned() else {
        let items: Vec<&str> = bundle.legs.iter().map(|l| l.item.as_str()).collect();
        tell(ctx, bundle, "clarify", format!("Which item should I change? Your bundle has: {}.", items.join(", ")));
        return Ok(());
    };
    if let Some(open) = state.negotiations.values().find(|n| n.request.leg_id == leg.leg_id && !n.status.is_final()) {
        tell(ctx, bundle, "clarify", format!("I'm still working on your last change to {} ({}).", leg.item, open.status.name().replace('_', " ")));
        return Ok(());
    }
    let request = NegotiationRequested {
        envelope: ctx.cause().clone(),
        negotiation_id: format!("neg-{}", ctx.cause().event_id),
        bundle_id: bundle.request.bundle_id.clone(),
        leg_id: leg.leg_id.clone(),
        negotiation_type: "product_change".into(),
        partner_id: leg.partner_id.clone(),
        partner_name: leg.partner_name.clone(),
        partner_contact: leg.partner_contact.clone(),
        original_item: leg.item.clone(),
        requested_item: requested,
        original_price: leg.price,
        currency: leg.currency.clone(),
        capabilities: leg.capabilities.clone(),
        is_jit: leg.is_jit,
        leg_starts_at: leg.starts_at,
        deadline: leg.deadline,
        hard_locked: leg.hard_locked,
        thread_id: bundle.request.thread_id.clone(),
    };
    if leg.partner_opted_in {
        flow::requested(state, &request, ctx)?;
    } else {
        flow::without_opt_in(state, &request, ctx);
    }
    if let Some(n) = state.negotiations.get_mut(&request.negotiation_id) {
        n.leg = Some(leg);
    }
    Ok(())
}

fn decide(state: &mut NegotiationState, bundle: &Bundle, c: &ChatIntentResolved, ctx: &mut Ctx<Out>) -> Result<(), Rejection> {
    let waiting: Vec<String> =
        state.negotiations.values().filter(|n| matches!(n.status, Status::AwaitingUserApproval | Status::AwaitingRecoveryApproval)).map(|n| n.request.negotiation_id.clone()).collect();
    let [negotiation_id] = waiting.as_slice() else {
        let text = if waiting.is_empty() { "There is nothing waiting for your answer right now." } else { "Several proposals are waiting for you; please answer one of them by its id." };
        tell(ctx, bundle, "clarify", text.into());
        return Ok(());
    };
    let decision = UserDecided { envelope: ctx.cause().clone(), bundle_id: c.bundle_id.clone(), negotiation_id: negotiation_id.clone(), approved: c.intent == "approve", actor: c.user_id.clone() };
    flow::user_decided(state, &decision, ctx)
}

/// A note to the bundle's thread that concerns no negotiation (`negotiation_id` empty).
pub(super) fn tell(ctx: &mut Ctx<Out>, b: &Bundle, kind: &str, text: String) {
    let r = &b.request;
    let note = UserNotified { envelope: ctx.envelope(), negotiation_id: String::new(), bundle_id: r.bundle_id.clone(), thread_id: r.thread_id.clone(), kind: kind.to_string(), text };
    ctx.emit(ctx.key().to_string(), Out::UserNotified(note));
}

/// What adding an item to a leg does to its deadline (rules TC2, TC3), told to the user: the
/// separate-delivery suggestion over 10 minutes late, the plain conflict at 10 or less.
pub fn item_added(state: &mut NegotiationState, a: &ItemAddRequested, ctx: &mut Ctx<Out>) -> Result<(), Rejection> {
    let Some(bundle) = state.bundle.as_ref() else {
        return Err(Rejection::new("UNKNOWN_BUNDLE", format!("no bundle {} was requested", a.bundle_id)));
    };
    let Some(on) = bundle.legs.iter().position(|l| l.leg_id == a.leg_id) else {
        return Err(Rejection::new("UNKNOWN_LEG", format!("bundle {} has no leg {}", a.bundle_id, a.leg_id)));
    };
    if a.preparation_minutes < 0 {
        return Err(Rejection::new("BAD_ITEM", format!("negative preparation time {}", a.preparation_minutes)));
    }
    let legs = chain(&bundle.legs);
    let addition = Addition { item: a.item.clone(), pickup: Location { lat: a.partner_lat.0, lng: a.partner_lng.0 }, prep_minutes: a.preparation_minutes };
    let analysis = time_chain::simulate_addition(&legs, on, &addition, bundle.request.starts_at);
    let leg = &legs[on];
    let conflict = analysis.conflicts.first();
    let suggestion = analysis.suggestions.first();
    let new_arrival = conflict.map_or_else(|| time_chain::arrival(leg, bundle.request.starts_at) + analysis.time_impact_minutes * 60_000, |c| c.new_arrival);
    let delay_minutes = conflict.map_or(0, |c| c.delay_minutes);
    let text = match (suggestion, conflict) {
        (Some(s), _) => s.message.clone(),
        (None, Some(c)) => format!("Adding {} will make you {} minutes late for {}.", a.item, c.delay_minutes, leg.name),
        (None, None) => format!("Adding {} keeps {} on time.", a.item, leg.name),
    };
    let simulated = ConflictSimulated {
        envelope: ctx.envelope(),
        command_id: a.command_id.clone(),
        bundle_id: a.bundle_id.clone(),
        leg_id: a.leg_id.clone(),
        leg_name: leg.name.clone(),
        item: a.item.clone(),
        has_conflict: analysis.has_conflict,
        time_impact_minutes: analysis.time_impact_minutes,
        new_arrival,
        deadline: leg.deadline,
        delay_minutes,
        suggestion: suggestion.map(|s| s.kind.to_string()),
        suggestion_message: suggestion.map(|s| s.message.clone()),
        courier_cost: suggestion.map(|s| s.estimated_cost),
    };
    ctx.emit(ctx.key().to_string(), Out::ConflictSimulated(simulated));
    let bundle = bundle.clone();
    tell(ctx, &bundle, "conflict", text);
    Ok(())
}
