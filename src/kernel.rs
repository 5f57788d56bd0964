//! Glue to the user_events adapter ([`cotrace_kernel`]): maps an event's fields to the kernel's
//! types and its values to the kernel's values.

use cotrace_kernel::{EventFormat, FieldType, RegisterOptions, Registration};

use crate::event::Event;
use crate::field::{FieldKind, Value};
use crate::status::{KernelWrites, TracerStatus};

/// An event registered with user_events.
pub(crate) struct KernelEvent {
    registration: Registration,
    /// What status adds to "registered" (PERSIST fallback, multi-format tracepoint name).
    pub(crate) note: Option<String>,
}

/// The kernel type each field kind is recorded as (see the table in [`crate::field`]).
pub(crate) fn kernel_type(kind: FieldKind) -> FieldType {
    match kind {
        FieldKind::U8 | FieldKind::Bool => FieldType::U8,
        FieldKind::U16 => FieldType::U16,
        FieldKind::U32 | FieldKind::F32 => FieldType::U32,
        FieldKind::U64 | FieldKind::F64 => FieldType::U64,
        FieldKind::I8 => FieldType::S8,
        FieldKind::I16 => FieldType::S16,
        FieldKind::I32 => FieldType::S32,
        FieldKind::I64 => FieldType::S64,
        FieldKind::Str => FieldType::Str,
        FieldKind::Bytes => FieldType::Bytes,
    }
}

/// The kernel value of one field value.
fn kernel_value<'a>(value: &Value<'a>) -> cotrace_kernel::Value<'a> {
    use cotrace_kernel::Value as K;
    match *value {
        Value::U8(v) => K::U8(v),
        Value::U16(v) => K::U16(v),
        Value::U32(v) => K::U32(v),
        Value::U64(v) => K::U64(v),
        Value::I8(v) => K::S8(v),
        Value::I16(v) => K::S16(v),
        Value::I32(v) => K::S32(v),
        Value::I64(v) => K::S64(v),
        Value::Bool(v) => K::U8(u8::from(v)),
        Value::F32(v) => K::U32(v.to_bits()),
        Value::F64(v) => K::U64(v.to_bits()),
        Value::Str(v) => K::Str(v),
        Value::Bytes(v) => K::Bytes(v),
    }
}

/// Registers one event with user_events; the error says why it could not be.
pub(crate) fn register(event: &'static Event) -> Result<KernelEvent, String> {
    register_many(&[event])
        .pop()
        .unwrap_or_else(|| Err(unavailable()))
}

/// Registers `events` with user_events, in one batch ([`cotrace_kernel::register_many`]: the
/// system calls back to back): an outcome per event, in order.
pub(crate) fn register_many(events: &[&'static Event]) -> Vec<Result<KernelEvent, String>> {
    if cotrace_kernel::availability().is_err() {
        return events.iter().map(|_| Err(unavailable())).collect();
    }
    let options = |event: &Event| {
        RegisterOptions::new()
            .persist(event.desc().persist)
            .multi_format(event.desc().multi_format)
    };
    // The events whose format is valid are registered together; the others fail here.
    let mut batch = Vec::with_capacity(events.len());
    let invalid: Vec<Option<String>> = events
        .iter()
        .map(|&event| match format(event) {
            Ok(format) => {
                batch.push((event.word(), format, options(event)));
                None
            }
            Err(e) => Some(e),
        })
        .collect();
    let mut registered = cotrace_kernel::register_many(batch).into_iter();
    events
        .iter()
        .zip(invalid)
        .map(|(&event, invalid)| {
            if let Some(e) = invalid {
                return Err(e);
            }
            // One outcome per event in the batch: never short.
            let result = registered.next().ok_or_else(unavailable)?;
            finish(event, options(event), result)
        })
        .collect()
}

fn unavailable() -> String {
    String::from("user_events unavailable here (see the kernel tracer's status)")
}

/// `event`'s format, from its fields.
fn format(event: &Event) -> Result<EventFormat, String> {
    let desc = event.desc();
    EventFormat::from_fields(
        desc.kernel_name,
        desc.fields.iter().map(|f| (f.name, kernel_type(f.kind))),
    )
    .map_err(|e| e.to_string())
}

/// The event's registration from the kernel adapter's `result`: retried without PERSIST when
/// that is refused, errors said with what to do.
fn finish(
    event: &'static Event,
    options: RegisterOptions,
    result: cotrace_kernel::Result<Registration>,
) -> Result<KernelEvent, String> {
    let multi_format = event.desc().multi_format;
    match result {
        Ok(registration) => Ok(KernelEvent {
            note: notes(&registration, multi_format, None),
            registration,
        }),
        // `#[persist]` needs CAP_PERFMON: register without it, and say so.
        Err(cotrace_kernel::Error::PersistNotPermitted) => {
            cotrace_kernel::register_with(event.word(), format(event)?, options.persist(false))
                .map(|registration| KernelEvent {
                    note: notes(
                        &registration,
                        multi_format,
                        Some("registered WITHOUT #[persist]: PERSIST needs CAP_PERFMON (EPERM)"),
                    ),
                    registration,
                })
                .map_err(|e| e.to_string())
        }
        Err(e @ cotrace_kernel::Error::FormatConflict { .. }) => Err(format!(
            "{e} (in provider!: #[multi_format] on the event; or, if it is a #[persist] event \
             left by an earlier version of this app, delete it: `echo '!u:<name> <old fields>' \
             >> <tracefs>/dynamic_events`)"
        )),
        Err(e) => Err(e.to_string()),
    }
}

/// What status should say about a registration beyond "registered".
fn notes(registration: &Registration, multi_asked: bool, fallback: Option<&str>) -> Option<String> {
    let mut notes: Vec<String> = fallback.map(String::from).into_iter().collect();
    if registration.is_persistent() {
        notes.push(format!(
            "persistent: outlives the process (delete it after with `echo '!u:{}' >> <tracefs>/dynamic_events`)",
            registration.format().as_str()
        ));
    }
    if registration.is_multi_format() {
        notes.push(format!(
            "multi-format: tracepoint user_events_multi:{}.<hex id>",
            registration.name()
        ));
    } else if multi_asked {
        notes.push("MULTI_FORMAT refused by this kernel (before 6.9): plain name".into());
    }
    if !registration.outlives_registering_thread() {
        notes.push(
            "kept by the registering thread only (cotrace's registrar thread could not start): \
             ftrace and perf stop reaching it when that thread exits"
                .into(),
        );
    }
    (!notes.is_empty()).then(|| notes.join("; "))
}

impl KernelEvent {
    /// Writes one firing, if the kernel still wants it. Errors are not returned: a trace write
    /// must never disturb the application (registration already validated the shape); the
    /// registration counts truncated, dropped and failed writes for [`crate::status`].
    #[inline]
    pub(crate) fn write<const N: usize>(&self, values: &[Value<'_>; N]) {
        let converted: [cotrace_kernel::Value<'_>; N] =
            core::array::from_fn(|i| kernel_value(&values[i]));
        let _ = self.registration.write_typed(&converted);
    }

    /// The registration's counts of writes that did not go as fired.
    pub(crate) fn writes(&self) -> KernelWrites {
        let stats = self.registration.write_stats();
        KernelWrites {
            truncated: stats.truncated,
            dropped: stats.dropped,
            failed: stats.failed,
        }
    }
}

impl KernelEvent {
    /// [`write`](Self::write) for a run-time number of values (events defined at run time,
    /// [`Event::fire`]); at most `MAX_FIELDS` values are taken (registration checked the count).
    #[inline]
    pub(crate) fn write_slice(&self, values: &[Value<'_>]) {
        match values.len() {
            0..=8 => self.write_converted::<8>(values),
            9..=16 => self.write_converted::<16>(values),
            _ => self.write_converted::<{ crate::macro_support::MAX_FIELDS }>(values),
        }
    }

    fn write_converted<const N: usize>(&self, values: &[Value<'_>]) {
        let mut converted = [cotrace_kernel::Value::U8(0); N];
        let n = values.len().min(N);
        for (slot, value) in converted.iter_mut().zip(values) {
            *slot = kernel_value(value);
        }
        let _ = self.registration.write(&converted[..n]);
    }
}

/// Whether user_events can be used in this process, and the state of its descriptor: if the
/// application closed it and no fresh one can be opened, the tracer is unavailable and the
/// detail says why and how to get the events back.
pub(crate) fn tracer_status() -> TracerStatus {
    match cotrace_kernel::availability() {
        Ok(tracefs) => {
            let descriptor = cotrace_kernel::descriptor_status();
            let lost = descriptor.as_ref().map_or(true, |d| d.lost.is_some());
            let mut descriptor = match descriptor {
                Ok(d) => d.to_string(),
                Err(why) => why.to_string(),
            };
            // A forked child: whether its words follow ftrace and perf (see
            // `cotrace_kernel::after_fork`).
            if let Some(after) = cotrace_kernel::after_fork() {
                descriptor = format!("{descriptor}; {after}");
            }
            TracerStatus {
                name: "kernel",
                compiled_in: true,
                available: !lost,
                detail: format!("user_events at {}; {descriptor}", tracefs.display()),
            }
        }
        Err(why) => TracerStatus {
            name: "kernel",
            compiled_in: true,
            available: false,
            detail: why.to_string(),
        },
    }
}
