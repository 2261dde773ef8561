//! The rate limits of [`crate::ratelimit`] in front of routes (`wrap(from_fn(throttle::token))`):
//! pages a person opens get a Vietnamese 429 page, OAuth endpoints a 429 OAuth JSON error; both
//! with `Retry-After`.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpResponse, ResponseError as _};

use crate::client_ip::ClientIp;
use crate::errors::{OAuthError, PageError};
use crate::ratelimit::{Limit, Limited};
use crate::state::AppState;

#[derive(Clone, Copy)]
enum Render {
    Page,
    OAuth,
}

/// Entry points that start a login (`[limits] authorize`): a Vietnamese page.
pub async fn login_start<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, Error> {
    throttle(Limit::Authorize, Render::Page, req, next).await
}

/// `/token`, `/introspect`, `/revoke` (`[limits] token`): an OAuth error.
pub async fn token<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, Error> {
    throttle(Limit::Token, Render::OAuth, req, next).await
}

/// `/userinfo` (`[limits] userinfo`): an OAuth error.
pub async fn userinfo<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, Error> {
    throttle(Limit::Userinfo, Render::OAuth, req, next).await
}

async fn throttle<B: MessageBody + 'static>(
    limit: Limit,
    render: Render,
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    let ip = ClientIp::of(req.request(), &state.settings.server.trusted_proxies);
    let refusal = match state.limiter.hit(limit, &ip.limit_key()).await {
        Ok(Ok(())) => return Ok(next.call(req).await?.map_into_left_body()),
        Ok(Err(limited)) => {
            state
                .metrics
                .rate_limited
                .with_label_values(&[limit.name()])
                .inc();
            too_many(render, limited)
        }
        Err(e) => match render {
            Render::Page => PageError::from_store(e).error_response(),
            Render::OAuth => OAuthError::from_store(e).error_response(),
        },
    };
    Ok(req.into_response(refusal).map_into_right_body())
}

/// The 429 answer.
fn too_many(render: Render, limited: Limited) -> HttpResponse {
    match render {
        Render::Page => {
            let mut res = PageError {
                status: StatusCode::TOO_MANY_REQUESTS,
                title: "Quá nhiều yêu cầu".into(),
                message: format!(
                    "Có quá nhiều yêu cầu đăng nhập từ địa chỉ mạng của bạn. Vui lòng thử lại sau {} giây.",
                    limited.retry_after
                ),
            }
            .error_response();
            res.headers_mut().insert(
                header::RETRY_AFTER,
                header::HeaderValue::from(limited.retry_after),
            );
            res
        }
        Render::OAuth => OAuthError::too_many_requests(limited.retry_after).error_response(),
    }
}
