//! Glue to the LTTng-UST adapter ([`cotrace_ust`]): builds its event specs from the events'
//! descriptions, registers one LTTng provider per `provider!` module, and converts values.

use cotrace_ust::{EventHandle, EventSpec, FieldSpec, FieldType, Loglevel};

use crate::event::Event;
use crate::field::{FieldKind, Value};
use crate::level::Level;
use crate::status::TracerStatus;

/// An event registered with LTTng-UST.
pub(crate) struct LttngEvent {
    handle: EventHandle,
}

fn field_type(kind: FieldKind) -> FieldType {
    match kind {
        FieldKind::U8 => FieldType::U8,
        FieldKind::U16 => FieldType::U16,
        FieldKind::U32 => FieldType::U32,
        FieldKind::U64 => FieldType::U64,
        FieldKind::I8 => FieldType::I8,
        FieldKind::I16 => FieldType::I16,
        FieldKind::I32 => FieldType::I32,
        FieldKind::I64 => FieldType::I64,
        FieldKind::Bool => FieldType::Bool,
        FieldKind::F32 => FieldType::F32,
        FieldKind::F64 => FieldType::F64,
        FieldKind::Str => FieldType::Str,
        FieldKind::Bytes => FieldType::Bytes,
    }
}

fn loglevel(level: Level) -> Loglevel {
    match level {
        Level::Emergency => Loglevel::Emerg,
        Level::Alert => Loglevel::Alert,
        Level::Critical => Loglevel::Crit,
        Level::Error => Loglevel::Err,
        Level::Warn => Loglevel::Warning,
        Level::Notice => Loglevel::Notice,
        Level::Info => Loglevel::Info,
        Level::Debug => Loglevel::Debug,
    }
}

fn ust_value<'a>(value: &Value<'a>) -> cotrace_ust::Value<'a> {
    use cotrace_ust::Value as U;
    match *value {
        Value::U8(v) => U::U8(v),
        Value::U16(v) => U::U16(v),
        Value::U32(v) => U::U32(v),
        Value::U64(v) => U::U64(v),
        Value::I8(v) => U::I8(v),
        Value::I16(v) => U::I16(v),
        Value::I32(v) => U::I32(v),
        Value::I64(v) => U::I64(v),
        Value::Bool(v) => U::Bool(v),
        Value::F32(v) => U::F32(v),
        Value::F64(v) => U::F64(v),
        Value::Str(v) => U::Str(v),
        Value::Bytes(v) => U::Bytes(v),
    }
}

/// The LTTng spec of one event. Built once per event at registration and kept for the life of
/// the process, as LTTng keeps pointers into it.
fn spec(event: &'static Event) -> &'static EventSpec {
    let desc = event.desc();
    let fields: Vec<FieldSpec> = desc
        .fields
        .iter()
        .map(|f| FieldSpec {
            name: f.name,
            ty: field_type(f.kind),
        })
        .collect();
    Box::leak(Box::new(EventSpec {
        provider: desc.provider,
        event: desc.name,
        loglevel: loglevel(desc.level),
        fields: Vec::leak(fields),
        word: event.word(),
    }))
}

/// Registers the events of one provider; records the outcome in each event.
///
/// Each event is checked alone first: one LTTng refuses gets its own error and the others are
/// registered without it (liblttng-ust takes or refuses a provider as a whole).
///
/// `part`: the provider name may be registered already (events defined after
/// [`init`](crate::init)): the events are registered as one more probe descriptor of that
/// provider ([`cotrace_ust::register_provider_part`]).
pub(crate) fn register_provider(provider: &'static str, events: &[&'static Event], part: bool) {
    let mut accepted: Vec<(&'static Event, &'static EventSpec)> = Vec::new();
    for &event in events {
        let spec = spec(event);
        match cotrace_ust::provider::check_event(provider, spec) {
            Ok(()) => accepted.push((event, spec)),
            Err(why) => {
                let _ = event.lttng.set(Box::new(Err(why.to_string())));
            }
        }
    }
    if accepted.is_empty() {
        return;
    }
    let specs: Vec<&'static EventSpec> = accepted.iter().map(|&(_, spec)| spec).collect();
    let registered = if part {
        cotrace_ust::register_provider_part(provider, &specs)
    } else {
        cotrace_ust::register_provider(provider, &specs)
    };
    match registered {
        Ok(registered) => {
            for &(event, spec) in &accepted {
                let outcome = registered
                    .event(spec.event)
                    .map(|handle| LttngEvent { handle })
                    .ok_or_else(|| format!("LTTng lost event {}", spec.event));
                let _ = event.lttng.set(Box::new(outcome));
            }
            // Kept registered for the life of the process (dropping it would unregister).
            std::mem::forget(registered);
        }
        Err(why) => {
            for &(event, _) in &accepted {
                let _ = event.lttng.set(Box::new(Err(why.to_string())));
            }
        }
    }
}

impl LttngEvent {
    /// Hands one firing to LTTng, `ip` for its `ip` context (the address of the `fire!`, or 0).
    /// Errors are dropped: tracing must never disturb the app (the registration already
    /// checked the shape).
    #[inline]
    pub(crate) fn fire<const N: usize>(&self, ip: usize, values: &[Value<'_>; N]) {
        let converted: [cotrace_ust::Value<'_>; N] =
            core::array::from_fn(|i| ust_value(&values[i]));
        let _ = self.handle.fire_enabled_at(ip, &converted);
    }
}

impl LttngEvent {
    /// [`fire`](Self::fire) for a run-time number of values (events defined at run time,
    /// [`Event::fire`]).
    #[inline]
    pub(crate) fn fire_slice(&self, ip: usize, values: &[Value<'_>]) {
        // A stack array as small as fits: converting into 32 slots would cost more than the
        // conversion itself for the usual few fields.
        match values.len() {
            0..=8 => self.fire_converted::<8>(ip, values),
            9..=16 => self.fire_converted::<16>(ip, values),
            _ => self.fire_converted::<{ crate::macro_support::MAX_FIELDS }>(ip, values),
        }
    }

    fn fire_converted<const N: usize>(&self, ip: usize, values: &[Value<'_>]) {
        let mut converted = [cotrace_ust::Value::U8(0); N];
        let n = values.len().min(N);
        for (slot, value) in converted.iter_mut().zip(values) {
            *slot = ust_value(value);
        }
        let _ = self.handle.fire_enabled_at(ip, &converted[..n]);
    }
}

/// Whether LTTng-UST can be used in this process, and how its enablement is counted.
pub(crate) fn tracer_status() -> TracerStatus {
    let status = cotrace_ust::status();
    let available = matches!(
        status.availability,
        cotrace_ust::Availability::Available { .. }
    );
    TracerStatus {
        name: "lttng",
        compiled_in: true,
        available,
        detail: status.to_string(),
    }
}
