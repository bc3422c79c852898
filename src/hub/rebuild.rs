//! `POST /admin/rebuild_refresh_tokens`: after a store loss, the store's
//! authorizer refresh tokens are rebuilt from WeChat's own list
//! (`/cgi-bin/component/api_get_authorizer_list`), behind the bearer.

use serde_json::{json, Value};

use super::error::HubError;
use super::handler::{Answer, HubHandler};
use super::wire::HubResponse;
use crate::options::RequestOptions;
use crate::secret::Secret;

/// Authorizers asked for per page (WeChat's maximum).
const PAGE: u64 = 500;

/// Pages read at most: 500,000 authorizers, far past any platform's.
const MAX_PAGES: u64 = 1_000;

impl HubHandler {
    /// Stores the refresh token of every authorizer WeChat lists for
    /// `component_appid`, and answers how many.
    pub(super) fn rebuild_refresh_tokens(&self, component_appid: &str) -> Answer {
        let mut restored = 0u64;
        let mut offset = 0u64;
        for _ in 0..MAX_PAGES {
            let page = self.client.request(
                RequestOptions::post("/cgi-bin/component/api_get_authorizer_list")
                    .appid(component_appid)
                    .json(json!({"offset": offset, "count": PAGE})),
            )?;
            let page = page.json()?;
            let total = page["total_count"].as_u64().unwrap_or(0);
            let list = page["list"].as_array().map_or(&[][..], Vec::as_slice);
            for item in list {
                if let (Some(Value::String(authorizer)), Some(Value::String(refresh))) =
                    (item.get("authorizer_appid"), item.get("refresh_token"))
                {
                    self.store.put_refresh_token(
                        component_appid,
                        authorizer,
                        &Secret::new(refresh.as_str()),
                    )?;
                    restored += 1;
                }
            }
            offset += list.len() as u64;
            if list.is_empty() || offset >= total {
                log::warn!(
                    "wechat hub: rebuilt {restored} authorizer refresh tokens of {component_appid} from api_get_authorizer_list"
                );
                return Ok(HubResponse::json(
                    200,
                    &json!({"component_appid": component_appid, "restored": restored, "total_count": total}),
                ));
            }
        }
        Err(HubError::new(
            502,
            "upstream_unavailable",
            format!(
                "api_get_authorizer_list of {component_appid} did not end within {MAX_PAGES} pages"
            ),
        ))
    }
}
