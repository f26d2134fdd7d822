//! The Channel Access client of the engine: its address list (the
//! `[engine]` keys, else the `EPICS_CA_*` variables). The CA side of a PV
//! lives in `channel` (monitor, archived fields) and `workflow` (archive
//! requests).

use std::net::SocketAddr;

use epics_ca_rs::client::CaClient;

use super::EngineConfig;

/// Parses a CA address list (`host[:port]`, space or comma separated).
pub fn parse_addr_list(list: &str, default_port: u16) -> Vec<SocketAddr> {
    list.split([' ', ','])
        .filter(|s| !s.is_empty())
        .filter_map(|a| {
            if let Ok(sa) = a.parse::<SocketAddr>() {
                return Some(sa);
            }
            let ip: std::net::IpAddr = a.parse().ok()?;
            Some(SocketAddr::new(ip, default_port))
        })
        .collect()
}

/// Starts the CA client searching the configured addresses and
/// `extra_addrs` (the demo server).
pub(super) async fn client(cfg: &EngineConfig, extra_addrs: Vec<SocketAddr>) -> anyhow::Result<CaClient> {
    let client = CaClient::new()
        .await
        .map_err(|e| anyhow::anyhow!("starting the CA client: {e:?}"))?;
    let port = cfg
        .ca_server_port
        .or_else(|| {
            std::env::var("EPICS_CA_SERVER_PORT")
                .ok()
                .and_then(|p| p.parse().ok())
        })
        .unwrap_or(5064);
    let list = cfg
        .ca_addr_list
        .clone()
        .or_else(|| std::env::var("EPICS_CA_ADDR_LIST").ok())
        .unwrap_or_default();
    let mut addrs = parse_addr_list(&list, port);
    addrs.extend(extra_addrs);
    if !addrs.is_empty() || cfg.ca_addr_list.is_some() {
        client.set_address_list(addrs.clone());
    }
    client.set_exception_handler(|e| tracing::warn!(kind = ?e.kind, message = %e.message, "CA exception"));
    tracing::info!(addresses = ?addrs, "Channel Access client started");
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_lists() {
        let a = parse_addr_list("127.0.0.1 127.0.0.2:6000,10.0.0.1", 5064);
        assert_eq!(a.len(), 3);
        assert_eq!(a[0].port(), 5064);
        assert_eq!(a[1].port(), 6000);
        assert!(parse_addr_list("not-an-ip", 1).is_empty());
    }
}
