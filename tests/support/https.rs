//! The HTTPS interface as a client sees it: reqwest over rustls trusting the test CA, aimed at
//! the server's `https` listener (by the name `localhost`, which its certificate carries).

use super::Server;

pub struct Https {
    pub client: reqwest::Client,
    pub base: String,
}

impl Https {
    pub fn new(s: &Server) -> Https {
        let tls = (*super::smtp::tls_config(&s.ca())).clone();
        let addr = s.listener("https");
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .resolve("localhost", addr)
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .unwrap();
        Https {
            client,
            base: format!("https://localhost:{}", addr.port()),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Logs an operator in; returns its bearer token.
    pub async fn login(&self, userid: &str, password: &str) -> String {
        let r = self
            .client
            .post(self.url("/api/v1/login"))
            .json(&serde_json::json!({ "userid": userid, "password": password }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "login of {userid}");
        let doc: serde_json::Value = r.json().await.unwrap();
        doc["token"].as_str().unwrap().to_string()
    }

    /// A request with `token` as bearer; returns the status and the JSON body (Null if none).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut req = self
            .client
            .request(method, self.url(path))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        )
    }
}
