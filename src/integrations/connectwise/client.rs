//! The ConnectWise Manage REST client: the API base of a site, its auth
//! headers, and the calls the settings page, the mappings and the quantity
//! sync make.

use base64::Engine;
use reqwest::header::{HeaderValue, ACCEPT, AUTHORIZATION};
use reqwest::{Method, RequestBuilder, Url};

use super::wire::{
    Addition, Agreement, BillCustomer, CatalogItem, Company, NewAddition, PatchOperation,
    ProductId, SystemInfo,
};
use crate::integrations::outbound::{next_link, Outbound};
use crate::integrations::{IntegrationError, SettingValues};

/// How errors name the platform.
pub const PLATFORM: &str = "ConnectWise";
/// The API version asked for in `Accept`.
pub const API_VERSION: &str = "2025.1";
/// The REST API's path under a site.
pub const API_PATH: &str = "v4_6_release/apis/3.0/";
/// Page size of a listing read whole (ConnectWise's largest).
const FULL_PAGE: u32 = 1000;
/// Page size of a listing an operator browses.
pub const BROWSE_PAGE: u32 = 25;

/// One page of a listing an operator browses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub page: u32,
    pub has_next: bool,
}

#[derive(Clone)]
pub struct ConnectWiseClient {
    outbound: Outbound,
    base: Url,
    authorization: HeaderValue,
    client_id: String,
}

impl std::fmt::Debug for ConnectWiseClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectWiseClient")
            .field("base", &self.base.as_str())
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// The API base of a site URL: `https://` (plain `http://` only to a
/// loopback address, as in tests), no query; a bare host name is taken as
/// `https://host`.
pub fn api_base(site_url: &str) -> Result<Url, String> {
    let site_url = site_url.trim();
    let with_scheme = if site_url.contains("://") {
        site_url.to_owned()
    } else {
        format!("https://{site_url}")
    };
    let mut url = Url::parse(&with_scheme).map_err(|_| {
        format!("Site URL {site_url:?} is not a URL such as https://api-na.myconnectwise.net.")
    })?;
    let host = url.host_str().unwrap_or("");
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    let secure = url.scheme() == "https" || (url.scheme() == "http" && loopback);
    if !secure || host.is_empty() {
        return Err(format!(
            "Site URL must start with https:// (it carries your API keys), not {site_url:?}."
        ));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err("Site URL must be the site's address only, without ?, # or a user.".into());
    }
    let path = format!("{}/{API_PATH}", url.path().trim_end_matches('/'));
    url.set_path(&path);
    Ok(url)
}

fn setting<'a>(
    values: &'a SettingValues,
    key: &str,
    label: &str,
) -> Result<&'a str, IntegrationError> {
    values
        .plain
        .get(key)
        .or_else(|| values.secrets.get(key))
        .map(String::as_str)
        .filter(|value| !value.is_empty())
        .ok_or_else(|| IntegrationError::Settings(format!("{label} is not set.")))
}

/// A string inside `conditions=`: double-quoted, `"` and `\` escaped.
fn quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

impl ConnectWiseClient {
    pub fn new(outbound: Outbound, settings: &SettingValues) -> Result<Self, IntegrationError> {
        let base = api_base(setting(settings, "site_url", "Site URL")?)
            .map_err(IntegrationError::Settings)?;
        let company = setting(settings, "company_id", "Company ID")?;
        let public_key = setting(settings, "public_key", "Public key")?;
        let private_key = setting(settings, "private_key", "Private key")?;
        let client_id = setting(settings, "client_id", "Client ID")?.to_owned();
        let credentials = base64::engine::general_purpose::STANDARD
            .encode(format!("{company}+{public_key}:{private_key}"));
        let mut authorization =
            HeaderValue::from_str(&format!("Basic {credentials}")).map_err(|_| {
                IntegrationError::Settings("The keys hold characters a header cannot carry.".into())
            })?;
        authorization.set_sensitive(true);
        HeaderValue::from_str(&client_id).map_err(|_| {
            IntegrationError::Settings("Client ID holds characters a header cannot carry.".into())
        })?;
        Ok(ConnectWiseClient {
            outbound,
            base,
            authorization,
            client_id,
        })
    }

    /// A client on the process's outgoing HTTP setup.
    pub fn from_settings(settings: &SettingValues) -> Result<Self, IntegrationError> {
        Self::new(Outbound::shared(), settings)
    }

    fn url(&self, path: &str, query: &[(&str, String)]) -> Url {
        let mut url = self.base.join(path).expect("API paths are relative");
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        url
    }

    fn authorize(&self) -> impl Fn(RequestBuilder) -> RequestBuilder + '_ {
        move |request| {
            request
                .header(AUTHORIZATION, self.authorization.clone())
                .header("clientId", &self.client_id)
                .header(
                    ACCEPT,
                    format!("application/vnd.connectwise.com+json; version={API_VERSION}"),
                )
        }
    }

    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, IntegrationError> {
        let url = self.url(path, query);
        self.outbound
            .json(PLATFORM, Method::GET, &url, false, self.authorize())
            .await
    }

    async fn page<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        conditions: String,
        page: u32,
    ) -> Result<Page<T>, IntegrationError> {
        let page = page.max(1);
        let url = self.url(
            path,
            &[
                ("conditions", conditions),
                ("page", page.to_string()),
                ("pageSize", BROWSE_PAGE.to_string()),
            ],
        );
        let response = self
            .outbound
            .send(PLATFORM, Method::GET, &url, false, self.authorize())
            .await?;
        let has_next = next_link(response.headers()).is_some();
        let items = response
            .json()
            .await
            .map_err(|error| IntegrationError::Unavailable {
                platform: PLATFORM,
                message: format!("its answer was not what its API documents: {error}"),
            })?;
        Ok(Page {
            items,
            page,
            has_next,
        })
    }

    async fn all<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        conditions: Option<String>,
    ) -> Result<Vec<T>, IntegrationError> {
        let mut query = vec![("pageSize", FULL_PAGE.to_string())];
        if let Some(conditions) = conditions {
            query.insert(0, ("conditions", conditions));
        }
        self.outbound
            .all_pages(PLATFORM, self.url(path, &query), self.authorize())
            .await
    }

    /// `GET system/info`: checks the credentials.
    pub async fn system_info(&self) -> Result<SystemInfo, IntegrationError> {
        self.get("system/info", &[]).await
    }

    /// Active catalog items whose identifier or description contains
    /// `search` (all when blank), a page at a time.
    pub async fn catalog_page(
        &self,
        search: &str,
        page: u32,
    ) -> Result<Page<CatalogItem>, IntegrationError> {
        let search = search.trim();
        let mut conditions = "inactiveFlag=false".to_owned();
        if !search.is_empty() {
            let text = quoted(search);
            conditions.push_str(&format!(
                " and (identifier contains {text} or description contains {text})"
            ));
        }
        self.page("procurement/catalog", conditions, page).await
    }

    pub async fn catalog_item(&self, id: i64) -> Result<CatalogItem, IntegrationError> {
        self.get(&format!("procurement/catalog/{id}"), &[]).await
    }

    /// Companies (not deleted) whose name contains `search`.
    pub async fn companies_page(
        &self,
        search: &str,
        page: u32,
    ) -> Result<Page<Company>, IntegrationError> {
        let search = search.trim();
        let mut conditions = "deletedFlag=false".to_owned();
        if !search.is_empty() {
            conditions.push_str(&format!(" and name contains {}", quoted(search)));
        }
        self.page("company/companies", conditions, page).await
    }

    pub async fn company(&self, id: i64) -> Result<Company, IntegrationError> {
        self.get(&format!("company/companies/{id}"), &[]).await
    }

    /// A company's agreements that are not cancelled.
    pub async fn agreements_of(&self, company_id: i64) -> Result<Vec<Agreement>, IntegrationError> {
        self.all(
            "finance/agreements",
            Some(format!("company/id={company_id} and cancelledFlag=false")),
        )
        .await
    }

    pub async fn agreement(&self, id: i64) -> Result<Agreement, IntegrationError> {
        self.get(&format!("finance/agreements/{id}"), &[]).await
    }

    /// Every addition of an agreement (all pages).
    pub async fn additions(&self, agreement_id: i64) -> Result<Vec<Addition>, IntegrationError> {
        self.all(
            &format!("finance/agreements/{agreement_id}/additions"),
            None,
        )
        .await
    }

    /// Sets an addition's quantity, and nothing else (a JSON Patch).
    pub async fn set_addition_quantity(
        &self,
        agreement_id: i64,
        addition_id: i64,
        quantity: i64,
    ) -> Result<Addition, IntegrationError> {
        let url = self.url(
            &format!("finance/agreements/{agreement_id}/additions/{addition_id}"),
            &[],
        );
        let body = [PatchOperation::quantity(quantity)];
        let authorize = self.authorize();
        self.outbound
            .json(PLATFORM, Method::PATCH, &url, false, |request| {
                authorize(request).json(&body)
            })
            .await
    }

    /// Adds a product line with its quantity (billed to the customer);
    /// ConnectWise takes price and cost from its catalog. Not repeated
    /// after an answer that may have created it.
    pub async fn create_addition(
        &self,
        agreement_id: i64,
        product_id: i64,
        quantity: i64,
    ) -> Result<Addition, IntegrationError> {
        let url = self.url(&format!("finance/agreements/{agreement_id}/additions"), &[]);
        let body = NewAddition {
            product: ProductId { id: product_id },
            quantity,
            bill_customer: BillCustomer::Billable,
        };
        let authorize = self.authorize();
        self.outbound
            .json(PLATFORM, Method::POST, &url, true, |request| {
                authorize(request).json(&body)
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_base_is_under_the_site() {
        assert_eq!(
            api_base("https://api-na.myconnectwise.net")
                .unwrap()
                .as_str(),
            "https://api-na.myconnectwise.net/v4_6_release/apis/3.0/"
        );
        assert_eq!(
            api_base("api-eu.myconnectwise.net/").unwrap().as_str(),
            "https://api-eu.myconnectwise.net/v4_6_release/apis/3.0/"
        );
        assert_eq!(
            api_base("http://127.0.0.1:8123").unwrap().as_str(),
            "http://127.0.0.1:8123/v4_6_release/apis/3.0/"
        );
        assert!(api_base("http://cw.example.com").is_err());
        assert!(api_base("https://cw.example.com/?x=1").is_err());
        assert!(api_base("ftp://cw.example.com").is_err());
    }

    #[test]
    fn auth_is_basic_over_company_plus_public_key() {
        let values = SettingValues {
            plain: [
                ("site_url", "https://cw.example"),
                ("company_id", "acme"),
                ("public_key", "pub"),
                ("client_id", "cid"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
            secrets: [("private_key".to_owned(), "priv".to_owned())].into(),
        };
        let client = ConnectWiseClient::new(Outbound::shared(), &values).unwrap();
        assert_eq!(
            client.authorization.to_str().unwrap(),
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode("acme+pub:priv")
            )
        );
        assert!(!format!("{client:?}").contains("priv"));
        assert_eq!(quoted(r#"a "b" \c"#), r#""a \"b\" \\c""#);
    }
}
