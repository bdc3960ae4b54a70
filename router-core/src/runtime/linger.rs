//! The task that unwraps a partial batch once its oldest frame has waited the linger: reads
//! release whole batches themselves (see [`crate::pipeline::batching`]), this releases the rest.

use std::rc::Rc;

use super::shard::Shard;

pub(super) async fn run(shard: Rc<Shard>) {
    let mut batch = Vec::new();
    loop {
        let deadline = shard.pending.borrow().deadline();
        let Some(deadline) = deadline else {
            shard.pending_started.wait().await;
            continue;
        };
        let wait = shard.clock.until(deadline);
        if !wait.is_zero() {
            // Reads may release the waiting frames meanwhile; the deadline is looked at again.
            glommio::timer::sleep(wait).await;
            continue;
        }
        let now = shard.clock.now();
        shard.pending.borrow_mut().take_ready(now, &mut batch);
        shard.mix(now, &mut batch);
        futures_lite::future::yield_now().await;
    }
}
