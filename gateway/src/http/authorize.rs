//! `GET /authorize` and `GET /login/{upstream}/callback`: the two halves of a login, served by
//! [`crate::login::authorize`] and [`crate::login::callback`].

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::{redirect, request_id};
use crate::cookies;
use crate::errors::PageError;
use crate::login::authorize::{self, AuthorizeOutcome};
use crate::login::callback::{self, Callback, CallbackError, CallbackOutcome};
use crate::login::SESSION_COOKIE;
use crate::pages;
use crate::params::Params;
use crate::state::AppState;

type Data = web::Data<AppState>;

/// `GET /authorize`
pub async fn authorize(req: HttpRequest, state: Data) -> Result<HttpResponse, PageError> {
    if let Some((_, id)) =
        url::form_urlencoded::parse(req.query_string().as_bytes()).find(|(k, _)| k == "client_id")
    {
        crate::telemetry::note_client(&req, &id);
    }
    let cookie = req.cookie(SESSION_COOKIE);
    let outcome = authorize::authorize(
        &state,
        req.query_string().as_bytes(),
        cookie.as_ref().map(|c| c.value()),
    )
    .await?;
    Ok(match outcome {
        AuthorizeOutcome::Redirect(url) => redirect(&url),
        AuthorizeOutcome::Upstream { upstream, started } => {
            let mut res = redirect(&started.url);
            let _ = res.add_cookie(&cookies::binding(
                &state,
                &upstream,
                &started.upstream_state,
                started.binding,
            ));
            res
        }
        AuthorizeOutcome::Choose(choices) => pages::chooser_page(&choices),
        AuthorizeOutcome::Invalid(message) => {
            return Err(PageError::bad_request(
                "Yêu cầu đăng nhập không hợp lệ",
                message,
            ))
        }
        AuthorizeOutcome::UpstreamUnreachable => {
            return Err(PageError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                title: "Không kết nối được hệ thống xác thực".into(),
                message:
                    "Hệ thống xác thực quốc gia đang không phản hồi. Vui lòng thử lại sau ít phút."
                        .into(),
            })
        }
    })
}

fn bad_state() -> PageError {
    PageError::bad_request(
        "Phiên đăng nhập không hợp lệ",
        "Phiên đăng nhập đã hết hạn hoặc không hợp lệ. Vui lòng quay lại trang của cơ quan và đăng nhập lại.",
    )
}

/// `GET /login/{upstream}/callback`
pub async fn callback(
    req: HttpRequest,
    path: web::Path<String>,
    state: Data,
) -> Result<HttpResponse, PageError> {
    let p = Params::parse(req.query_string().as_bytes()).map_err(|_| bad_state())?;
    let upstream_state = p.get("state").ok_or_else(bad_state)?;
    let upstream = path.into_inner();
    let binding = req.cookie(&cookies::binding_name(upstream_state));
    let request_id = request_id(&req);
    let outcome = callback::finish(
        &state,
        &Callback {
            upstream: &upstream,
            upstream_state,
            code: p.get("code"),
            error: p.get("error"),
            binding: binding.as_ref().map(|c| c.value()),
            request_id: &request_id,
        },
    )
    .await;
    let rendered: Result<HttpResponse, PageError> = match outcome {
        Ok(CallbackOutcome::Admitted {
            redirect: url,
            cookie,
        }) => {
            let mut res = redirect(&url);
            let _ = res.add_cookie(&cookies::session(&state, cookie));
            Ok(res)
        }
        Ok(CallbackOutcome::Refused {
            refusal,
            back,
            portal,
        }) => Ok(pages::refusal_page(&refusal, Some(&back), &portal)),
        Ok(CallbackOutcome::UpstreamDenied { redirect: url }) => Ok(redirect(&url)),
        Ok(CallbackOutcome::UpstreamFailed { back, portal }) => {
            Ok(pages::upstream_failed_page(&back, &portal))
        }
        Err(CallbackError::UnknownState) => Err(bad_state()),
        Err(CallbackError::OtherBrowser) => Err(PageError::bad_request(
            "Phiên đăng nhập không khớp với trình duyệt",
            "Lượt đăng nhập này không được bắt đầu trên trình duyệt bạn đang dùng, nên hệ thống \
không hoàn tất đăng nhập. Nếu bạn vừa nhấn vào một đường liên kết lạ, hãy đóng trang này. \
Để đăng nhập, hãy quay lại trang của cơ quan và bấm Đăng nhập.",
        )),
        Err(CallbackError::Service(e)) => Err(e.into()),
    };
    // Whatever the outcome, this login's binding cookie has done its work.
    let mut res = rendered.unwrap_or_else(|e| actix_web::ResponseError::error_response(&e));
    if binding.is_some() {
        let _ = res.add_cookie(&cookies::binding_removal(&state, &upstream, upstream_state));
    }
    Ok(res)
}
