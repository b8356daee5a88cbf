//! Every request runs in a tracing span carrying its id, so each log line of a request
//! (a Redis error, a reload it triggered) can be traced to it and to the client, which
//! gets the id back in `X-Request-Id`.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use tracing::Instrument;

const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// `<boot nonce>-<counter>`: unique across restarts without a random draw per request.
fn next_id() -> String {
    static BOOT: OnceLock<u32> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let boot = BOOT.get_or_init(|| {
        let mut bytes = [0u8; 4];
        // Without OS randomness ids are still unique within this process.
        let _ = getrandom::fill(&mut bytes);
        u32::from_le_bytes(bytes)
    });
    format!("{boot:08x}-{:x}", COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// The middleware: a client's own `X-Request-Id` (printable, at most 64 bytes) is
/// kept, otherwise one is made.
pub(crate) async fn span(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = request
        .headers()
        .get(&HEADER)
        .and_then(|value| value.to_str().ok())
        .filter(|value| {
            !value.is_empty() && value.len() <= 64 && value.bytes().all(|b| b.is_ascii_graphic())
        })
        .map_or_else(next_id, str::to_string);
    let span = tracing::info_span!("request", id = %id, method = %request.method(), path = %request.path());
    let started = Instant::now();
    let mut response = next.call(request).instrument(span.clone()).await?;
    let status = response.status().as_u16();
    let micros = started.elapsed().as_micros();
    span.in_scope(|| {
        if status >= 500 {
            tracing::warn!(status, micros, "request failed");
        } else {
            tracing::debug!(status, micros, "request");
        }
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, value);
    }
    Ok(response)
}
