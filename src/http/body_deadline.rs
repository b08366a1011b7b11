//! A deadline on request bodies: a client that trickles its body holds a
//! connection and a worker's attention for as long as it likes unless
//! something cuts it. actix's `client_request_timeout` bounds only the
//! request head, so the body gets this deadline, counted from when the head
//! arrived; past it the body reader fails and the request is answered (and
//! the connection closed) at once.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use actix_web::HttpMessage;
use futures_util::Stream;

/// How long a request's body may take to arrive (app data).
#[derive(Debug, Clone, Copy)]
pub struct BodyDeadline(pub Duration);

/// Middleware: puts [`BodyDeadline`] (when configured) on the request's body.
pub async fn cut_slow_bodies(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if let Some(BodyDeadline(limit)) = req.app_data::<BodyDeadline>().copied() {
        match req.take_payload() {
            Payload::None => {}
            payload => {
                let timed = TimedPayload {
                    inner: payload,
                    deadline: Box::pin(tokio::time::sleep(limit)),
                    expired: false,
                };
                req.set_payload(Payload::from(
                    Box::pin(timed) as Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>>
                ));
            }
        }
    }
    next.call(req).await
}

struct TimedPayload {
    inner: Payload,
    deadline: Pin<Box<tokio::time::Sleep>>,
    expired: bool,
}

impl Stream for TimedPayload {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.expired {
            return Poll::Ready(None);
        }
        if let Poll::Ready(item) = Pin::new(&mut self.inner).poll_next(cx) {
            return Poll::Ready(item);
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            self.expired = true;
            return Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the request body did not arrive in time",
            )))));
        }
        Poll::Pending
    }
}
