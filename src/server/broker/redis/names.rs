//! A name's hold: claimed by a session, extended as it posts, released when it signs out.

use super::{BrokerResult, Claim, Holder, RedisBroker, RunScript, interval_us, rate_limited};
use crate::message::DisplayName;
use std::net::IpAddr;

impl RedisBroker {
    /// Whether the session holds its name (extending the hold if so).
    pub(super) async fn holds_name(&self, holder: &Holder) -> BrokerResult<bool> {
        let held: i64 = self
            .touch
            .key(self.keys.name(&holder.name))
            .arg(&holder.session_id)
            .arg(self.name_idle_ms())
            .run(&self.connection, "checking a name's hold")
            .await?;
        Ok(held == 1)
    }

    /// Has a script check (and extend) the session's hold on its name: as its next key on
    /// one Redis; on a cluster, where the hold is in another slot, by checking it now.
    /// `false` when the cluster answered that the session no longer holds it.
    pub(super) async fn hold_in_script(
        &self,
        invocation: &mut redis::ScriptInvocation<'_>,
        holder: &Holder,
    ) -> BrokerResult<bool> {
        if self.cluster.is_some() {
            return self.holds_name(holder).await;
        }
        invocation.key(self.keys.name(&holder.name));
        Ok(true)
    }

    /// Ends the session's hold on its name, if it has it.
    pub(super) async fn release(&self, holder: &Holder) -> BrokerResult<()> {
        let _: i64 = self
            .touch
            .key(self.keys.name(&holder.name))
            .arg(&holder.session_id)
            .run(&self.connection, "releasing a name")
            .await?;
        Ok(())
    }

    /// Claims the name for the session, giving up `previous` if it held it.
    pub(super) async fn claim(
        &self,
        holder: &Holder,
        previous: Option<&DisplayName>,
        client: IpAddr,
    ) -> BrokerResult<Claim> {
        if self.cluster.is_some() {
            return self.claim_on_cluster(holder, previous, client).await;
        }
        let mut invocation = self.claim.key(self.keys.name(&holder.name));
        invocation.key(self.keys.signin(client));
        if let Some(previous) = previous {
            invocation.key(self.keys.name(previous));
        }
        let (outcome, wait): (i64, String) = invocation
            .arg(&holder.session_id)
            .arg(self.name_idle_ms())
            .arg(interval_us(self.limits.signin_rate))
            .arg(self.limits.signin_burst)
            .run(&self.connection, "claiming a name")
            .await?;
        match outcome {
            1 => Ok(Claim::Granted),
            0 => Ok(Claim::Taken),
            _ => Err(rate_limited(&wait)),
        }
    }
}
