//! header-modifier: the Rust WasmPlugin from the seed blog post, written for this repository.
//!
//! Configuration (JSON, every key optional):
//!   request_headers:  [{name, value}]  added to every request
//!   response_headers: [{name, value}]  added to every response
//!   enable_logging:   bool (default true) — log request/response lines and add x-request-duration-ms
//!   log_level:        "trace" | "debug" | "info" | "warn" | "error" (default "info") — the plugin's own
//!                     log threshold; messages below it are dropped inside the plugin
//!
//! A configuration that is not valid JSON, has a wrong type or an unknown log_level makes
//! on_configure return false (the host treats that as a plugin start failure).

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel};
use serde::Deserialize;
use std::rc::Rc;
use std::time::{SystemTime, UNIX_EPOCH};

/// One header to add.
#[derive(Deserialize, Clone, Debug)]
struct HeaderSpec {
    name: String,
    value: String,
}

/// The plugin configuration after parsing; shared read-only by every stream.
#[derive(Deserialize, Clone, Debug)]
#[serde(default)]
struct Settings {
    request_headers: Vec<HeaderSpec>,
    response_headers: Vec<HeaderSpec>,
    enable_logging: bool,
    log_level: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            request_headers: Vec::new(),
            response_headers: Vec::new(),
            enable_logging: true,
            log_level: "info".to_owned(),
        }
    }
}

fn parse_level(name: &str) -> Option<LogLevel> {
    match name.to_ascii_lowercase().as_str() {
        "trace" => Some(LogLevel::Trace),
        "debug" => Some(LogLevel::Debug),
        "info" => Some(LogLevel::Info),
        "warn" | "warning" => Some(LogLevel::Warn),
        "error" => Some(LogLevel::Error),
        "critical" | "off" => Some(LogLevel::Critical),
        _ => None,
    }
}

fn epoch_millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_root_id| -> Box<dyn RootContext> {
        Box::new(Plugin { settings: Rc::new(Settings::default()) })
    });
}}

/// Root context: owns the parsed settings.
struct Plugin {
    settings: Rc<Settings>,
}

impl Context for Plugin {}

impl RootContext for Plugin {
    fn on_configure(&mut self, _config_size: usize) -> bool {
        let raw = match self.get_plugin_configuration() {
            Some(bytes) if !bytes.iter().all(u8::is_ascii_whitespace) => bytes,
            _ => {
                log::info!("No configuration given, using defaults");
                self.settings = Rc::new(Settings::default());
                return true;
            }
        };
        let parsed: Settings = match serde_json::from_slice(&raw) {
            Ok(s) => s,
            Err(err) => {
                log::error!("Failed to parse config: {}", err);
                return false;
            }
        };
        let level = match parse_level(&parsed.log_level) {
            Some(level) => level,
            None => {
                log::error!("Failed to parse config: unknown log_level {:?}", parsed.log_level);
                return false;
            }
        };
        proxy_wasm::set_log_level(level);
        log::info!("Plugin configured successfully");
        log::debug!(
            "{} request header(s), {} response header(s), logging {}",
            parsed.request_headers.len(),
            parsed.response_headers.len(),
            if parsed.enable_logging { "on" } else { "off" }
        );
        self.settings = Rc::new(parsed);
        true
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Stream { settings: Rc::clone(&self.settings), started_ms: 0 }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

/// One HTTP stream.
struct Stream {
    settings: Rc<Settings>,
    started_ms: u64,
}

impl Context for Stream {}

impl HttpContext for Stream {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        self.started_ms = epoch_millis(self.get_current_time());
        for h in &self.settings.request_headers {
            log::debug!("Adding request header {}", h.name);
            self.add_http_request_header(&h.name, &h.value);
        }
        if self.settings.enable_logging {
            let method = self.get_http_request_header(":method").unwrap_or_else(|| "unknown".into());
            let path = self.get_http_request_header(":path").unwrap_or_else(|| "unknown".into());
            log::info!("Request: {} {}", method, path);
        }
        Action::Continue
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        for h in &self.settings.response_headers {
            log::debug!("Adding response header {}", h.name);
            self.add_http_response_header(&h.name, &h.value);
        }
        if self.settings.enable_logging {
            let elapsed = epoch_millis(self.get_current_time()).saturating_sub(self.started_ms);
            let status = self.get_http_response_header(":status").unwrap_or_else(|| "unknown".into());
            log::info!("Response: status={} duration={}ms", status, elapsed);
            self.add_http_response_header("x-request-duration-ms", &elapsed.to_string());
        }
        Action::Continue
    }
}
