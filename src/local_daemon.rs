//! Talking to the running daemon from its own console: the address and API token from the
//! configuration file, over HTTPS pinned to exactly the LAN certificate when the LAN side
//! uses one. `docgate status` and `docgate boot-check` use it; it reads answers, never
//! the state directory.

use std::time::Duration;

use anyhow::Context;
use docgate::system::config::GatewayConfig;

/// The daemon on this box, as its configuration says where it listens.
pub struct LocalDaemon {
    client: reqwest::Client,
    /// `http://127.0.0.1:8480` (or `https://…`), without a trailing slash.
    pub base: String,
    token: String,
}

impl LocalDaemon {
    /// From the configuration: its listen address (a wildcard becomes loopback), its
    /// token, and the LAN certificate to pin.
    pub fn from_config(config: &GatewayConfig) -> anyhow::Result<LocalDaemon> {
        let token = config.api_token()?;
        let mut address = config.api.listen;
        if address.ip().is_unspecified() {
            address.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(10));
        let scheme = match &config.api.tls_certificate {
            Some(certificate) => {
                let pinned = docgate::system::lan_tls::pinned_client_config(certificate)?;
                builder = builder.use_preconfigured_tls(pinned);
                "https"
            }
            None => "http",
        };
        Ok(LocalDaemon {
            client: builder.build().context("cannot set up the HTTP client")?,
            base: format!("{scheme}://{address}"),
            token,
        })
    }

    /// `GET path` with the API token: the status code and the body as JSON (`Err` for a
    /// transport failure; a body that is not JSON is `Value::Null`).
    pub async fn get_json(
        &self,
        path: &str,
    ) -> Result<(reqwest::StatusCode, serde_json::Value), reqwest::Error> {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await?;
        let code = response.status();
        let body = response.json().await.unwrap_or(serde_json::Value::Null);
        Ok((code, body))
    }
}
