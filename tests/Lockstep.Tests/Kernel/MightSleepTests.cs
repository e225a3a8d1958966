using Lockstep.Engine;
using Lockstep.Kernel;
using static Lockstep.Kernel.Api;
using static Lockstep.Kernel.Srcu;
using static Lockstep.Tests.Kernel.KernelHarness;
using K = Lockstep.Kernel.Kernel;

namespace Lockstep.Tests.Kernel;

/// <summary>might_sleep / __might_resched (KERNEL-FACTS §4.2) on both configurations.</summary>
public class MightSleepTests
{
    private static async SimTask OneTask(K k, string comm, int pid, Func<SimTask> body)
        => await k.kthread_run(body, comm, pid).Exited!.Value.Join();

    [Fact]
    public void MutexUnderSpinlockSplatsOnNonRt()
    {
        static async SimTask Model(K k)
        {
            var sl = new spinlock_t(k, "&outer");
            var m = new mutex(k, "&inner");
            await OneTask(k, "worker", 7, async () =>
            {
                await spin_lock(sl);
                await mutex_lock(m);
                await mutex_unlock(m);
                await spin_unlock(sl);
            });
        }
        var r = Check(KernelConfig.Default, Model);
        var splat = Single(r, "might-sleep");
        Assert.Equal(["S2"], Lockstep.Models.Properties.Of(splat.Kind));
        Assert.Contains("in_atomic(): 1, irqs_disabled(): 0, non_block: 0, pid: 7, name: worker", splat.Text);
        Assert.Contains("preempt_count: 1, expected: 0", splat.Text);
        Assert.DoesNotContain("RCU nest depth", splat.Text);   // !PREEMPT_RCU
    }

    private static Func<K, SimTask> InNonBlock(Func<K, Func<SimTask>> body) => async k =>
        await OneTask(k, "oom_reaper", 53, async () =>
        {
            non_block_start();
            await body(k)();
            non_block_end();
        });

    [Fact]
    public void SpinlockInNonBlockSectionSplatsOnRtOnly()
    {
        var model = InNonBlock(k =>
        {
            var sl = new spinlock_t(k, "&kvm->mn_invalidate_lock");
            return async () =>
            {
                await spin_lock(sl);
                await spin_unlock(sl);
            };
        });
        Assert.Empty(Check(KernelConfig.Default, model).Violations);
        var splat = Single(Check(KernelConfig.Rt, model), "might-sleep");
        Assert.Contains("at kernel/locking/spinlock_rt.c:48", splat.Text);
        Assert.Contains("in_atomic(): 0, irqs_disabled(): 0, non_block: 1, pid: 53, name: oom_reaper", splat.Text);
    }

    [Fact]
    public void RawSpinlockInNonBlockSectionNeverSplats()
    {
        var model = InNonBlock(k =>
        {
            var raw = new raw_spinlock_t(k, "&kvm->mn_invalidate_lock");
            return async () =>
            {
                await raw_spin_lock(raw);
                await raw_spin_unlock(raw);
            };
        });
        Assert.Empty(Check(KernelConfig.Default, model).Violations);
        Assert.Empty(Check(KernelConfig.Rt, model).Violations);
    }

    [Fact]
    public void NestedRtSpinlocksUseTheRcuAllowanceButSynchronizeSrcuDoesNot()
    {
        static Func<K, SimTask> Model(bool sync) => async k =>
        {
            var a = new spinlock_t(k, "&a");
            var b = new spinlock_t(k, "&b");
            var ss = new srcu_struct(k, "&other_srcu");
            await OneTask(k, "task", 9, async () =>
            {
                await spin_lock(a);
                await spin_lock(b);
                await spin_unlock(b);
                if (sync) await synchronize_srcu(ss);
                await spin_unlock(a);
            });
        };
        Assert.Empty(Check(KernelConfig.Rt, Model(sync: false)).Violations);
        var splat = Single(Check(KernelConfig.Rt, Model(sync: true)), "might-sleep");
        Assert.Contains("RCU nest depth: 1, expected: 0", splat.Text);
        Assert.Contains("in_atomic(): 0", splat.Text);
        // On !RT the same sequence is atomic: preempt_count 1.
        var nonRt = Single(Check(KernelConfig.Default, Model(sync: true)), "might-sleep");
        Assert.Contains("in_atomic(): 1", nonRt.Text);
    }

    [Fact]
    public void RtWriteLockInNonBlockMatchesSeansSplat()
    {
        // KERNEL-FACTS §4.2 observed instance: qemu/4992, rt_write_lock at spinlock_rt.c:241, non_block: 1.
        static async SimTask Model(K k)
        {
            var mmu_lock = new rwlock_t(k, "&kvm->mmu_lock");
            await OneTask(k, "qemu", 4992, async () =>
            {
                using var f1 = KernelFunction.Enter("kvm_vcpu_ioctl");
                using var f2 = KernelFunction.Enter("do_wp_page");
                using var f3 = KernelFunction.Enter("__mmu_notifier_invalidate_range_start");
                non_block_start();
                using (KernelFunction.Enter("kvm_mmu_notifier_invalidate_range_start"))
                {
                    await write_lock(mmu_lock);
                    await write_unlock(mmu_lock);
                }
                non_block_end();
            });
        }
        var splat = Single(Check(KernelConfig.Rt, Model), "might-sleep");
        var expectedHead = string.Join("\n",
            "BUG: sleeping function called from invalid context at kernel/locking/spinlock_rt.c:241",
            "in_atomic(): 0, irqs_disabled(): 0, non_block: 1, pid: 4992, name: qemu",
            "preempt_count: 0, expected: 0",
            "RCU nest depth: 0, expected: 0",
            "1 lock held by qemu/4992:");
        Assert.StartsWith(expectedHead, splat.Text.Replace("\r", ""));
        var trace = splat.Text[splat.Text.IndexOf("Call Trace:", StringComparison.Ordinal)..];
        Assert.Matches(@"__might_resched\n rt_write_lock\n kvm_mmu_notifier_invalidate_range_start\n __mmu_notifier_invalidate_range_start\n do_wp_page\n kvm_vcpu_ioctl", trace);
        Assert.Contains("Comm: qemu", splat.Text);
        Assert.Contains("PREEMPT_RT", splat.Text);
    }

    [Fact]
    public void SchedulingInNonBlockSectionIsReported()
    {
        static async SimTask Model(K k)
        {
            await OneTask(k, "oom_reaper", 53, async () =>
            {
                non_block_start();
                await schedule_timeout_idle(10);
                non_block_end();
            });
        }
        var r = Single(Check(KernelConfig.Default, Model), "scheduling-in-non-block");
        Assert.StartsWith("BUG: scheduling in a non-blocking section: oom_reaper/53/1", r.Text);
    }

    [Fact]
    public void NonBlockEndUnderflowWarns()
    {
        static async SimTask Model(K k) => await OneTask(k, "t", 5, () => { non_block_end(); return SimTask.CompletedTask; });
        Assert.Equal("non-block-underflow", Assert.Single(Check(KernelConfig.Default, Model).Violations).Kind);
    }
    /// <summary>
    /// call_srcu callbacks run in srcu_invoke_callbacks between local_bh_disable and local_bh_enable (srcutree.c). A
    /// callback that takes a mutex splats on both configs: on !RT the BH-disabled count is in the preempt count
    /// (SOFTIRQ_DISABLE_OFFSET), on RT local_bh_disable takes softirq_ctrl.lock (rt_spin_lock: rcu_read_lock) and
    /// rcu_read_lock (kernel/softirq.c), depth 2; with raw-lock nesting lockdep also sees the mutex under that local lock.
    /// A spinlock_t is fine on both: no might_sleep on !RT, and on RT rtlock_might_resched allows the RCU depth held.
    /// </summary>
    [Theory]
    [InlineData("default", true)]
    [InlineData("rt", true)]
    [InlineData("default", false)]
    [InlineData("rt", false)]
    public void ASrcuCallbackRunsWithBottomHalvesDisabled(string config, bool takesMutex)
    {
        var r = Check(KernelConfig.Parse(config), async k =>
        {
            var s = new srcu_struct(k, "&s");
            KernelLock lk = takesMutex ? new mutex(k, "&cb->mutex") : new spinlock_t(k, "&cb->lock");
            await OneTask(k, "t", 30, () => call_srcu(s, async () =>
            {
                using var fn = KernelFunction.Enter("free_cb");
                if (takesMutex) await mutex_lock(lk);
                else await spin_lock(lk);
                if (takesMutex) await mutex_unlock(lk);
                else await spin_unlock(lk);
            }));
            await K.wait_for_deferred_work();
        });
        Assert.True(r.Exhaustive);
        if (!takesMutex)
        {
            Assert.Empty(r.Violations);
            return;
        }
        var splat = Single(r, "might-sleep");
        Assert.Contains("at kernel/locking/mutex.c:283", splat.Text);
        Assert.Contains(" free_cb\n srcu_invoke_callbacks\n", splat.Text);
        if (config == "default")
        {
            Assert.Contains("in_atomic(): 1, irqs_disabled(): 0, non_block: 0", splat.Text);
            Assert.Contains("preempt_count: 200, expected: 0", splat.Text);
            Assert.DoesNotContain("invalid-wait-context", Kinds(r));
            return;
        }
        Assert.Contains("in_atomic(): 0, irqs_disabled(): 0, non_block: 0", splat.Text);
        Assert.Contains("RCU nest depth: 2, expected: 0", splat.Text);
        Assert.Matches(@"#0: \S+ \(\(softirq_ctrl\.lock\)\)\{\+\.\+\.\}-\{3:3\}, at: __local_bh_disable_ip", splat.Text);
        Assert.Contains("(&cb->mutex){+.+.}-{4:4}, at: free_cb", Single(r, "invalid-wait-context").Text);
    }

    /// <summary>
    /// A kernel reuses a splat's strings only when everything they show is the same: the same call under another held
    /// lock, in a later exploration of the same kernel, names that lock; the same splat again in one execution shows the
    /// taint the first set.
    /// </summary>
    [Fact]
    public void SplatTextFollowsHeldLocksAndTaint()
    {
        var k = new K(KernelConfig.Default);
        static Func<K, SimTask> Under(string outer, int splats) => async k =>
        {
            var sl = new spinlock_t(k, outer);
            await OneTask(k, "worker", 7, async () =>
            {
                await spin_lock(sl);
                for (var i = 0; i < splats; i++) might_sleep();
                await spin_unlock(sl);
            });
        };
        var first = Single(Check(KernelConfig.Default, Under("&a", 1), k), "might-sleep");
        var second = Single(Check(KernelConfig.Default, Under("&b", 1), k), "might-sleep");
        Assert.Contains("(&a){+.+.}", first.Text);
        Assert.Contains("(&b){+.+.}", second.Text);
        Assert.DoesNotContain("(&a)", second.Text);

        var twice = Under("&a", 2);
        var token = Single(Check(KernelConfig.Default, twice, k), "might-sleep").Token;
        var texts = Explorer.Replay(k.Boot(() => twice(k)), token).Violations.OfType<KernelReport>().Select(v => v.Text).ToList();
        Assert.Equal(2, texts.Count);
        Assert.Contains("Not tainted", texts[0]);
        Assert.Contains("Tainted: G        W", texts[1]);
        Assert.Equal(first.Text, texts[0]);
    }
}
