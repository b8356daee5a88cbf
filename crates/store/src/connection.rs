//! One connection type for a single Redis and for Redis Cluster.
//!
//! Every key yima writes carries its campaign as a hash tag, so everything one call
//! touches lives in one slot: on a cluster each script call, pipeline and stream read
//! goes to the one master owning that slot, and different campaigns spread over the
//! masters. Callers never know which kind they hold.

use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::{Cmd, FromRedisValue, Pipeline, RedisFuture, Value};

use crate::StoreError;

/// A multiplexed connection to one Redis, or to every master of a cluster. Both
/// reconnect by themselves: after a Redis restart the command in flight fails and the
/// next ones find a new connection, so a gateway never needs restarting for it.
#[derive(Clone)]
pub enum Connection {
    /// `redis://host:port`
    Single(ConnectionManager),
    /// Several comma-separated `redis://` seeds: a Redis Cluster.
    Cluster(ClusterConnection),
}

impl Connection {
    /// Connects to `url`; several comma-separated URLs are the seeds of a cluster (give
    /// two or more, so one node down at start-up does not stop the service).
    /// `response_timeout` bounds every reply, so a stalled server turns into an error;
    /// blocking stream reads need one longer than their `BLOCK`.
    pub async fn open(url: &str, response_timeout: Duration) -> Result<Self, StoreError> {
        let seeds: Vec<&str> = url.split(',').map(str::trim).collect();
        let connect_timeout = Duration::from_secs(5);
        if let [single] = seeds.as_slice() {
            let client = redis::Client::open(*single).map_err(StoreError::BadUrl)?;
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(connect_timeout))
                .set_response_timeout(Some(response_timeout));
            let connection = ConnectionManager::new_with_config(client, config).await?;
            return Ok(Self::Single(connection));
        }
        let client = redis::cluster::ClusterClient::builder(seeds)
            .connection_timeout(connect_timeout)
            .response_timeout(response_timeout)
            .build()
            .map_err(StoreError::BadUrl)?;
        Ok(Self::Cluster(client.get_async_connection().await?))
    }

    /// Whether this is a cluster: commands then cannot span campaigns.
    pub fn is_cluster(&self) -> bool {
        matches!(self, Self::Cluster(_))
    }

    /// Runs a command that names no key (`SCAN`) on the node holding `routing_key`'s
    /// slot: on a cluster, a campaign's keys all live on the master of its hash tag,
    /// and `routing_key` (a key or a `MATCH` pattern with the tag) names it.
    pub async fn query_on_slot_of<T: FromRedisValue>(
        &mut self,
        routing_key: &str,
        command: &Cmd,
    ) -> Result<T, StoreError> {
        let value = match self {
            Self::Single(connection) => command.query_async::<Value>(connection).await?,
            Self::Cluster(connection) => {
                let route = Route::with_key(routing_key.as_bytes(), SlotAddr::Master);
                connection
                    .route_command(
                        command.clone(),
                        RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(route)),
                    )
                    .await?
            }
        };
        redis::from_redis_value(value).map_err(|error| StoreError::Protocol(error.to_string()))
    }
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(connection) => connection.req_packed_command(cmd),
            Self::Cluster(connection) => connection.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(connection) => connection.req_packed_commands(pipeline, offset, count),
            Self::Cluster(connection) => connection.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(connection) => connection.get_db(),
            Self::Cluster(connection) => connection.get_db(),
        }
    }
}
