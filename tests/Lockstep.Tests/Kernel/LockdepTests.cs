using Lockstep.Engine;
using Lockstep.Kernel;
using static Lockstep.Kernel.Api;
using static Lockstep.Kernel.Srcu;
using static Lockstep.Tests.Kernel.KernelHarness;
using K = Lockstep.Kernel.Kernel;

namespace Lockstep.Tests.Kernel;

/// <summary>Lockdep (KERNEL-FACTS §4.4, §4.5): each report both ways.</summary>
public class LockdepTests
{
    [Fact]
    public void SrcuSynchronizeInsideOwnReadSideIsRecursiveLockingAndARealDeadlock()
    {
        static async SimTask Model(K k)
        {
            var srcu = new srcu_struct(k, "srcu");
            var t = k.kthread_run(async () =>
            {
                int id;
                using (KernelFunction.Enter("__mmu_notifier_oom_enter"))
                    id = await srcu_read_lock(srcu);
                using (KernelFunction.Enter("mmu_notifier_unregister"))
                    await synchronize_srcu(srcu);
                await srcu_read_unlock(srcu, id);
            }, "oom_killer", 4000);
            await t.Exited!.Value.Join();
        }
        var r = Check(KernelConfig.Default, Model);
        var report = Single(r, "lockdep-recursive");
        Assert.Equal(["S3"], Lockstep.Models.Properties.Of(report.Kind));
        Assert.Contains("WARNING: possible recursive locking detected", report.Text);
        Assert.Matches(@"is trying to acquire lock:\n\S+ \(srcu\)\{\+\.\+\.\}-\{0:0\}, at: __synchronize_srcu", report.Text);
        Assert.Matches(@"but task is already holding lock:\n\S+ \(srcu\)\{\.\+\.\+\}-\{0:0\}, at: __mmu_notifier_oom_enter", report.Text);
        Assert.Contains("  rlock(srcu);\n  lock(srcu);", report.Text);
        Assert.Contains("deadlock", Kinds(r));
    }

    [Fact]
    public void SynchronizingAnotherDomainInsideAReadSideIsClean()
    {
        static async SimTask Model(K k)
        {
            var x = new srcu_struct(k, "&x->srcu");
            var y = new srcu_struct(k, "&y->srcu");
            var t = k.kthread_run(async () =>
            {
                var id = await srcu_read_lock(x);
                await synchronize_srcu(y);
                await srcu_read_unlock(x, id);
            }, "t", 1);
            await t.Exited!.Value.Join();
        }
        Assert.Empty(Check(KernelConfig.Default, Model).Violations);
    }

    /// <summary>The RCU pattern: unpublish, (synchronize), free. A reader that saw the object must not see it freed.</summary>
    private static Func<K, SimTask> UnpublishThenFree(bool synchronize) => async k =>
    {
        var s = new srcu_struct(k, "&s");
        var published = new Shared<bool>("published", true);
        var freed = new Shared<bool>("freed");
        var reader = k.kthread_run(async () =>
        {
            var id = await srcu_read_lock(s);
            var id2 = await srcu_read_lock(s);   // recursive read: fine
            await srcu_read_unlock(s, id2);
            if (await published.Read())
                Sim.Assert(!await freed.Read(), "an object freed under a reader that saw it published");
            await srcu_read_unlock(s, id);
        }, "reader", 2);
        var updater = k.kthread_run(async () =>
        {
            await published.Write(false);
            if (synchronize) await synchronize_srcu(s);
            await freed.Write(true);
        }, "updater", 3);
        await reader.Exited!.Value.Join();
        await updater.Exited!.Value.Join();
    };

    [Fact]
    public void SynchronizeSrcuWaitsForReadersThatBeganBeforeIt()
    {
        var r = Check(KernelConfig.Default, UnpublishThenFree(synchronize: true));
        Assert.Empty(r.Violations);
        Assert.True(r.Exhaustive);
    }

    [Fact]
    public void FreeingWithoutTheGracePeriodIsCaught()
        => Assert.Equal("assertion", Assert.Single(Check(KernelConfig.Default, UnpublishThenFree(synchronize: false)).Violations).Kind);

    [Fact]
    public void AbbaIsReportedEvenWhenNoExecutionDeadlocksAndTheTokenReplaysIt()
    {
        // Whoever wins the flag takes both locks; the loser takes none. No execution takes both orders,
        // none can deadlock, yet across executions lockdep sees A->B and B->A.
        static Func<SimTask> Model(K k) => k.Boot(async () =>
        {
            var a = new mutex(k, "&a");
            var b = new mutex(k, "&b");
            var flag = new Shared<int>("flag");
            async SimTask Take(mutex first, mutex second, int me)
            {
                if (await flag.CompareExchange(0, me) != 0) return;
                await mutex_lock(first);
                await mutex_lock(second);
                await mutex_unlock(second);
                await mutex_unlock(first);
            }
            var t1 = k.kthread_run(() => Take(a, b, 1), "t1", 11);
            var t2 = k.kthread_run(() => Take(b, a, 2), "t2", 12);
            await t1.Exited!.Value.Join();
            await t2.Exited!.Value.Join();
        });
        var r = Explorer.Explore(Model(new K(KernelConfig.Default)), new DporStrategy(), new ExplorationOptions { StopOnFirstViolation = false });
        Assert.DoesNotContain("deadlock", Kinds(r));
        var circ = Single(r, "lockdep-circular");
        Assert.Contains("WARNING: possible circular locking dependency detected", circ.Text);
        Assert.Contains("which lock already depends on the new lock.", circ.Text);
        Assert.Contains("*** DEADLOCK ***", circ.Text);
        Assert.Contains("+", circ.Token);

        // Replaying the token on a fresh kernel (fresh graph) reproduces the report.
        var replay = Explorer.Replay(Model(new K(KernelConfig.Default)), circ.Token);
        Assert.Contains(replay.Violations.OfType<KernelReport>(), v => v.Kind == "lockdep-circular" && v.Text == circ.Text);
    }

    [Fact]
    public void ConsistentOrderIsNotReported()
    {
        static async SimTask Model(K k)
        {
            var a = new mutex(k, "&a");
            var b = new mutex(k, "&b");
            async SimTask Take()
            {
                await mutex_lock(a);
                await mutex_lock(b);
                await mutex_unlock(b);
                await mutex_unlock(a);
            }
            var t1 = k.kthread_run(Take, "t1", 11);
            var t2 = k.kthread_run(Take, "t2", 12);
            await t1.Exited!.Value.Join();
            await t2.Exited!.Value.Join();
        }
        Assert.Empty(Check(KernelConfig.Default, Model).Violations);
    }

    [Fact]
    public void UnlockOfALockNotHeldAndLocksHeldAtExit()
    {
        static async SimTask Model(K k)
        {
            var a = new mutex(k, "&a");
            var b = new mutex(k, "&b");
            var t = k.kthread_run(async () =>
            {
                await mutex_lock(a);
                await mutex_unlock(a);
                await mutex_unlock(a);
                await mutex_lock(b);
            }, "leaky", 13);
            await t.Exited!.Value.Join();
        }
        var r = Check(KernelConfig.Default, Model);
        Assert.Contains("WARNING: bad unlock balance detected!", Single(r, "bad-unlock").Text);
        var exit = Single(r, "held-at-exit");
        Assert.Contains("WARNING: leaky/13 still has locks held!", exit.Text);
        Assert.Contains("1 lock held by leaky/13:", exit.Text);
    }

    [Fact]
    public void SleepingLockUnderRawSpinlockIsAnInvalidWaitContextOnRt()
    {
        static async SimTask Model(K k)
        {
            var raw = new raw_spinlock_t(k, "&raw");
            var sl = new spinlock_t(k, "&sleeping_on_rt");
            var t = k.kthread_run(async () =>
            {
                await raw_spin_lock(raw);
                await spin_lock(sl);
                await spin_unlock(sl);
                await raw_spin_unlock(raw);
            }, "t", 14);
            await t.Exited!.Value.Join();
        }
        var rt = Check(KernelConfig.Rt, Model);
        Assert.Contains("[ BUG: Invalid wait context ]", Single(rt, "invalid-wait-context").Text);
        Assert.DoesNotContain("invalid-wait-context", Kinds(Check(KernelConfig.Default, Model)));
    }

    [Fact]
    public void PseudoLockOrdersAreChecked()
    {
        // start-map -> lock recorded by one task; lock -> start-map by another (an interval reader under its lock).
        static async SimTask Model(K k)
        {
            var map = new LockdepMap(k.Lockdep.Class("mmu_notifier_invalidate_range_start", WaitType.Inv));
            var m = new mutex(k, "&driver->lock");
            var t1 = k.kthread_run(async () =>
            {
                lock_map_acquire(map);
                await mutex_lock(m);
                await mutex_unlock(m);
                lock_map_release(map);
            }, "reclaim", 21);
            await t1.Exited!.Value.Join();
            var t2 = k.kthread_run(async () =>
            {
                await mutex_lock(m);
                lock_map_acquire(map);
                lock_map_release(map);
                await mutex_unlock(m);
            }, "driver", 22);
            await t2.Exited!.Value.Join();
        }
        var report = Single(Check(KernelConfig.Default, Model), "lockdep-circular");
        Assert.Contains("(mmu_notifier_invalidate_range_start){+.+.}-{0:0}", report.Text);
    }
}
