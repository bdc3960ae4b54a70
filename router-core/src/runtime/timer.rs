//! The task that releases delayed packets: it sleeps until the wheel's next deadline, or until a
//! batch put an earlier one in, and sends what is due.

use std::rc::Rc;

use super::shard::{Shard, ShardSink};

pub(super) async fn run(shard: Rc<Shard>) {
    loop {
        let now = shard.clock.now();
        shard
            .mixer
            .borrow_mut()
            .poll_expired(now, &mut ShardSink { shard: &shard });
        let next = shard.mixer.borrow().poll_timeout();
        shard.timer_deadline.set(next);
        match next {
            Some(deadline) => {
                let wait = shard.clock.until(deadline);
                if !wait.is_zero() {
                    futures_lite::future::or(
                        glommio::timer::sleep(wait),
                        shard.wheel_changed.wait(),
                    )
                    .await;
                }
            }
            None => shard.wheel_changed.wait().await,
        }
    }
}
