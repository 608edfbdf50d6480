//! A name's hold: claimed by a session, extended as it posts, released when it signs out.
//!
//! | key | type | holds |
//! | --- | --- | --- |
//! | `P:name:{name}` | string, TTL `CHAT_NAME_IDLE_DAYS` | the id of the session holding the name (`{name}` is its key, `DisplayName::key`: look-alikes share it) |
//! | `P:rate:{name}` | string, short TTL | the name's post limit: the GCRA "theoretical arrival time", in µs (`lua/gcra.lua`) |
//! | `P:signin:{address}` | string, short TTL | the client address's sign-in limit, likewise |
//!
//! On a cluster, a name's hold and limit share one hash tag (`P:{name:ann}`,
//! `P:{name:ann}:rate`), in another slot than any room's keys.

use super::{RedisBroker, interval_us, lua::Call, rate_limited, unavailable};
use crate::{
    message::DisplayName,
    server::broker::{BrokerResult, Claim, Holder, Names},
};
use async_trait::async_trait;
use std::net::IpAddr;

#[async_trait]
impl Names for RedisBroker {
    async fn claim(
        &self,
        holder: &Holder,
        previous: Option<&DisplayName>,
        client: IpAddr,
    ) -> BrokerResult<Claim> {
        if self.cluster.is_some() {
            return self.claim_on_cluster(holder, previous, client).await;
        }
        let mut call = self.scripts.claim.call();
        call.key("hold", self.keys.name(&holder.name))
            .key("signin", self.keys.signin(client))
            .arg("session", &holder.session_id)
            .arg("hold_ttl", self.name_idle_ms())
            .arg("signin_interval", interval_us(self.limits.signin_rate))
            .arg("signin_burst", self.limits.signin_burst);
        if let Some(previous) = previous {
            call.key("previous", self.keys.name(previous));
        }
        let (outcome, wait): (i64, String) = call.run(&self.connection, "claiming a name").await?;
        match outcome {
            1 => Ok(Claim::Granted {
                at: granted_at(&wait)?,
            }),
            0 => Ok(Claim::Taken),
            _ => Err(rate_limited(&wait)),
        }
    }

    async fn release(&self, holder: &Holder) -> BrokerResult<()> {
        let _: i64 = self
            .scripts
            .touch
            .call()
            .key("hold", self.keys.name(&holder.name))
            .arg("session", &holder.session_id)
            .run(&self.connection, "releasing a name")
            .await?;
        Ok(())
    }

    async fn holds(&self, holder: &Holder) -> BrokerResult<bool> {
        let held: i64 = self
            .scripts
            .touch
            .call()
            .key("hold", self.keys.name(&holder.name))
            .arg("session", &holder.session_id)
            .arg("hold_ttl", self.name_idle_ms())
            .run(&self.connection, "checking a name's hold")
            .await?;
        Ok(held == 1)
    }
}

/// The time a claim script answered with, in ms.
pub(super) fn granted_at(reply: &str) -> BrokerResult<u64> {
    reply
        .parse()
        .map_err(|_| unavailable(anyhow::anyhow!("a claim answered the time {reply:?}")))
}

impl RedisBroker {
    /// Has a script check (and extend) the session's hold on its name: as its `hold` key
    /// on one Redis; on a cluster, where the hold is in another slot, by checking it now.
    /// `false` when the cluster answered that the session no longer holds it.
    pub(super) async fn hold_in_script(
        &self,
        call: &mut Call<'_>,
        holder: &Holder,
    ) -> BrokerResult<bool> {
        if self.cluster.is_some() {
            return self.holds(holder).await;
        }
        call.key("hold", self.keys.name(&holder.name));
        Ok(true)
    }
}
