//! Upcasting: old event schemas are rewritten to the current one when read, so the
//! stored log is never rewritten and the domain code only knows the newest shape.

use std::collections::HashMap;
use std::sync::Arc;

use casebook_core::DomainEvent;
use casebook_store::Envelope;

use crate::engine::EngineError;

/// One upcasting step: the JSON payload of schema version `from` into version `to`.
pub type UpcastFn =
    Arc<dyn Fn(serde_json::Value) -> Result<serde_json::Value, String> + Send + Sync>;

/// The registered upcasting steps, by event type and schema version.
#[derive(Clone, Default)]
pub struct Upcasters {
    steps: HashMap<(String, u32), (u32, UpcastFn)>,
}

/// Most steps one event may go through; a longer chain is a registration mistake
/// (a cycle), reported as a decode error instead of looping.
const MAX_STEPS: usize = 64;

impl Upcasters {
    /// No upcasters: every event is read as written.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a step from `from` to `to` (> `from`) for one event type.
    pub fn register(
        mut self,
        event_type: &str,
        from: u32,
        to: u32,
        step: impl Fn(serde_json::Value) -> Result<serde_json::Value, String> + Send + Sync + 'static,
    ) -> Self {
        self.steps
            .insert((event_type.to_string(), from), (to, Arc::new(step)));
        self
    }

    /// Decodes an envelope's payload into `E`, upcasting first when a step is registered
    /// for its type and version.
    ///
    /// # Errors
    ///
    /// [`EngineError::Decode`] naming the stream, version and type, when a step fails or
    /// the payload does not match the type.
    pub fn decode<E: DomainEvent>(&self, envelope: &Envelope) -> Result<E, EngineError> {
        let fail = |detail: String| EngineError::Decode {
            stream: envelope.stream_id.to_string(),
            version: envelope.stream_version,
            event_type: envelope.event_type.clone(),
            schema_version: envelope.schema_version,
            detail,
        };
        let key = (envelope.event_type.clone(), envelope.schema_version);
        if self.steps.is_empty() || !self.steps.contains_key(&key) {
            // The fast path: the payload is in the current schema.
            return envelope
                .payload
                .decode::<E>()
                .map_err(|e| fail(e.to_string()));
        }
        let mut value: serde_json::Value = envelope
            .payload
            .decode()
            .map_err(|e| fail(format!("not JSON: {e}")))?;
        let mut version = envelope.schema_version;
        for _ in 0..MAX_STEPS {
            let Some((to, step)) = self.steps.get(&(envelope.event_type.clone(), version)) else {
                return serde_json::from_value(value).map_err(|e| fail(e.to_string()));
            };
            value = step(value).map_err(|e| fail(format!("upcasting from {version}: {e}")))?;
            version = *to;
        }
        Err(fail(format!(
            "more than {MAX_STEPS} upcasting steps: a cycle?"
        )))
    }
}
