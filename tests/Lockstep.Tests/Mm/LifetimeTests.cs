using Lockstep.Engine;
using Lockstep.Kernel;
using Lockstep.Models.mm;
using static Lockstep.Kernel.Api;
using static Lockstep.Kernel.Srcu;
using static Lockstep.Tests.MmTests.MmHarness;
using K = Lockstep.Kernel.Kernel;
using Op = Lockstep.Models.mm.mmu_notifier_ops.Op;

namespace Lockstep.Tests.MmTests;

/// <summary>Teardown and lifetime (KERNEL-FACTS §1.5, §1.6, §2.7; properties S7, L1, L5) with toy subscribers.</summary>
public class LifetimeTests
{
    /// <summary>
    /// exit_mmap racing the OOM reaper (§2.7): the victim exits (exit_mm → mmput → exit_mmap) and then closes its
    /// device (mmu_notifier_unregister) while the OOM killer kills it and the reaper reaps it, with a correct toy
    /// subscriber (start unmaps; release zaps everything) and gathers that free pages mid-range. Exhaustive, no finding:
    /// no page freed while mapped (S1), no splat, no hang (L1/L5 are hangs of the reaper / the exiting task), every
    /// callback before unregister returned, mm_count balanced at the end. Exhaustive: 19,185 executions per config.
    /// </summary>
    [Theory]
    [InlineData("default")]
    [InlineData("rt")]
    public void ExitMmapRacingTheReaperIsSafeForACorrectSubscriber(string config)
    {
        var r = Check(KernelConfig.Parse(config), async k =>
        {
            var w = MmWorld.Create(k, new Mm(k) { mmu_gather_capacity = 1 });
            var toy = await w.Register(new ToyMmu(k, "toy", ToyMmu.StartEnd, LockKind.raw_spinlock_t));
            // The reaper is a kthread waiting for work: if qemu exits before the OOM killer finds it, nothing is queued.
            k.kthread_run(() => w.code.oom_reaper(victims: 1), "oom_reaper", 53, daemon: true);
            var stress = w.Run("stress", 4100, () => w.code.out_of_memory(w.victim));
            var qemu = w.Run("qemu", 4992, async () =>
            {
                await w.exit_mm();
                await w.code.mmu_notifier_unregister(toy.subscription, w.mm);   // the device file's release
            });
            await MmWorld.Join(stress, qemu);
            if ((await w.mm.flags.Read() & MmFlags.MMF_OOM_REAP_QUEUED) != 0)
                await w.code.reaped.WaitUntil(static n => n == 1);   // oom_reap_task finished (else: a hang, L1)
            Sim.Assert(toy.releases == 1, $"release called {toy.releases} times");
            Sim.Assert(toy.spte.Peek.IsEmpty, "nothing mapped after teardown");
            // A reaper start that found the toy on the list may see it unhooked by exit_mmap's release at its end (§6.1 S5).
            Sim.Assert(toy.ends.Count <= toy.starts.Count, "no end without a start");
            await w.code.lifetimes.mm_count_check(w.mm);
        });
        Assert.True(r.Exhaustive, Describe(r));
        Assert.Empty(r.Violations);
    }

    /// <summary>The victim exits: unmapping the device in start is what keeps exit_mmap safe too — a late toy is caught there.</summary>
    [Fact]
    public void ExitMmapCatchesASubscriberThatUnmapsLate()
    {
        var r = Check(KernelConfig.Default, async k =>
        {
            var w = MmWorld.Create(k, new Mm(k) { mmu_gather_capacity = 1 });
            // No release op: the toy relies on start/end alone, and end comes too late.
            var toy = await w.Register(new ToyMmu(k, "toy", Op.invalidate_range_start | Op.invalidate_range_end) { unmap_in_start = false, unmap_in_end = true });
            await MmWorld.Join(w.Run("qemu", 4992, w.exit_mm));
        });
        Assert.Contains(Reports(r, "S1"), v => v.Text.Contains(" exit_mmap\n"));
    }

    /// <summary>mmu_notifier_unregister without its synchronize_srcu (a broken core): callbacks may outlive it.</summary>
    private sealed class MmUnregisterWithoutSynchronize : Mm
    {
        public MmUnregisterWithoutSynchronize(K kernel) : base(kernel) { }

        public override async SimTask mmu_notifier_unregister(mmu_notifier subscription, mm_struct mm)
        {
            using var fn = KernelFunction.Enter();
            if (!await hlist_head.hlist_unhashed(subscription))
            {
                var id = await srcu_read_lock(srcu);
                await Call(subscription, s => s.ops.release(s, mm));
                await srcu_read_unlock(srcu, id);
                var subscriptions = mm.subscriptions();
                await spin_lock(subscriptions.@lock);
                await subscriptions.list.hlist_del_init_rcu(subscription);
                await spin_unlock(subscriptions.@lock);
            }
            /* - synchronize_srcu(&srcu); */
            await lifetimes.unregister_returns(subscription);
            await mmdrop(mm);
        }
    }

    /// <summary>
    /// Unregister while a callback runs (§1.5 step 3): munmap's start is inside the toy (a shared in-progress count
    /// says so) when the device's unregister starts; unregister must not return before that callback has. The driver
    /// asserts on the shared count right after unregister returns, and the test checks that the case "a callback
    /// was in progress when unregister started" was really explored. Without synchronize_srcu the assertion fails and
    /// the S7 check at unregister's return fires. Exhaustive: 308 executions (correct core), 101 (without synchronize_srcu).
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void UnregisterWaitsForARunningCallback(bool synchronizes)
    {
        var inProgressWhenUnregisterStarted = 0;
        var r = Check(KernelConfig.Default, async k =>
        {
            var w = MmWorld.Create(k, synchronizes ? new Mm(k) : new MmUnregisterWithoutSynchronize(k));
            var toy = await w.Register(new ToyMmu(k, "toy", ToyMmu.StartEnd, LockKind.raw_spinlock_t) { track_running = true });
            var munmap = w.Run("qemu", 4992, () => w.code.do_munmap(w.mm, 0x1000, 0x1002));
            var close = w.Run("qemu-close", 4995, async () =>
            {
                if (await toy.running.Read() != 0) inProgressWhenUnregisterStarted++;
                await w.code.mmu_notifier_unregister(toy.subscription, w.mm);
                Sim.Assert(await toy.running.Read() == 0, "a callback still runs after mmu_notifier_unregister returned");
            });
            await MmWorld.Join(munmap, close);
            await w.code.lifetimes.mm_count_check(w.mm);
        });
        if (synchronizes)
        {
            Assert.True(r.Exhaustive, Describe(r));
            Assert.Empty(r.Violations);
            Assert.True(inProgressWhenUnregisterStarted > 0, "the interesting interleaving was explored");
            return;
        }
        Assert.Contains(r.Violations, v => v.Kind == "assertion");
        Assert.Contains(Reports(r, "S7"), v => v.Kind == "unregister-while-callback-runs");
    }

    /// <summary>
    /// S7: once mmu_notifier_unregister has returned no callback of the subscription may be called. A core that leaves
    /// it on the list is caught at the next invalidation (the kernel would call into freed memory once the driver
    /// frees its structure); the real core is clean. Exhaustive: 1 execution each.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void NoCallbackAfterUnregisterReturned(bool unhooks)
    {
        var r = Check(KernelConfig.Default, async k =>
        {
            var w = MmWorld.Create(k, unhooks ? new Mm(k) : new PlantedUnregister(k, UnregisterMistake.NoUnhook));
            var toy = await w.Register(new ToyMmu(k, "toy", ToyMmu.StartEnd));
            await w.code.mmu_notifier_unregister(toy.subscription, w.mm);
            await MmWorld.Join(w.Run("qemu", 4992, () => w.code.do_munmap(w.mm, 0x1000, 0x1002)));
        });
        Assert.True(r.Exhaustive, Describe(r));
        if (unhooks) Assert.Empty(r.Violations);
        else Assert.Contains(Reports(r, "S7"), v => v.Kind == "callback-after-unregister" && v.Message.Contains("ToyMmu callback called after mmu_notifier_unregister returned"));
    }

    /// <summary>
    /// S7 balance at quiescence: register/unregister, interval insert/remove and the OOM kill leave mm_count as the
    /// helper expects; a driver's stray mmgrab is a leak, a stray mmdrop an early free. Exhaustive: 1 execution each.
    /// </summary>
    [Theory]
    [InlineData(0, null)]
    [InlineData(1, "mm-count-leak")]
    [InlineData(-1, "mm-count-extra-drop")]
    public void MmCountCheckFindsUnbalancedPins(int stray, string? kind)
    {
        var r = Check(KernelConfig.Default, async k =>
        {
            var w = MmWorld.Create(k);
            var toy = await w.Register(new ToyMmu(k, "toy", ToyMmu.StartEnd));
            var dev = new ToyDevice(k, "dev");
            Sim.Assert(await w.code.mmu_interval_notifier_insert(dev.notifier, w.mm, 0x1000, 2, dev) == 0, "insert");
            await MmWorld.Join(w.OomKillAndReap());
            await w.code.lifetimes.mm_count_check(w.mm);   // registration, interval, signal->oom_mm and the users' pin
            if (stray > 0) await w.code.mmgrab(w.mm);
            await w.code.mmu_interval_notifier_remove(dev.notifier);
            await w.code.mmu_notifier_unregister(toy.subscription, w.mm);
            if (stray < 0) await w.code.mmdrop(w.mm);
            await w.code.lifetimes.mm_count_check(w.mm);
        });
        Assert.True(r.Exhaustive, Describe(r));
        if (kind == null) Assert.Empty(r.Violations);
        else Assert.Equal(kind, Assert.Single(r.Violations.OfType<KernelReport>()).Kind);
    }

    /// <summary>A subscriber for the get/put API: alloc_notifier / free_notifier, start unmaps.</summary>
    private sealed class GetPutOps : mmu_notifier_ops
    {
        public readonly Shared<bool> freed_flag;
        public readonly Shared<int> running;
        public int allocations;

        private readonly bool _alsoSecondaryTlbs;

        public GetPutOps(bool alsoSecondaryTlbs = false)
        {
            freed_flag = new Shared<bool>("toy->freed");
            running = new Shared<int>("toy->callbacks_in_progress");
            _alsoSecondaryTlbs = alsoSecondaryTlbs;
        }

        public override Op Implements => Op.invalidate_range_start | Op.alloc_notifier | Op.free_notifier
            | (_alsoSecondaryTlbs ? Op.arch_invalidate_secondary_tlbs : 0);

        public override SimTask<mmu_notifier> alloc_notifier(mm_struct mm)
        {
            allocations++;
            return SimTask<mmu_notifier>.FromValue(new mmu_notifier(this));
        }

        public override async SimTask free_notifier(mmu_notifier subscription)
        {
            using var fn = KernelFunction.Enter("toy_free_notifier");
            Sim.Assert(await running.Read() == 0, "free_notifier while a callback of the subscription runs");
            await freed_flag.Write(true);
        }

        public override async SimTask<int> invalidate_range_start(mmu_notifier subscription, mmu_notifier_range range)
        {
            using var fn = KernelFunction.Enter("toy_invalidate_range_start");
            await running.Update(static n => n + 1);
            await running.Update(static n => n - 1);
            return 0;
        }
    }

    /// <summary>mmu_notifier_put freeing at once (kfree instead of call_srcu): no grace period for running callbacks.</summary>
    private sealed class MmPutWithoutGracePeriod : Mm
    {
        public MmPutWithoutGracePeriod(K kernel) : base(kernel) { }

        public async SimTask mmu_notifier_put_kfree(mmu_notifier subscription)
        {
            using var fn = KernelFunction.Enter("mmu_notifier_put");
            var subscriptions = (await subscription.mm.Read())!.subscriptions();
            await spin_lock(subscriptions.@lock);
            var last = await subscription.users.Update(static u => u - 1) == 1;
            if (last) await subscriptions.list.hlist_del_init_rcu(subscription);
            await spin_unlock(subscriptions.@lock);
            if (last) await mmu_notifier_free_rcu(subscription);   // - call_srcu(&srcu, &subscription->rcu, mmu_notifier_free_rcu);
        }
    }

    /// <summary>
    /// The get/put API (§1.5): two gets share one subscription (users == 2, one alloc_notifier); the first put keeps it;
    /// the last put unhooks it and frees it with call_srcu, so free_notifier runs only after a grace period — never
    /// while a munmap's start that found it on the list is still inside it — and then mmdrops the registration's pin.
    /// The test waits for the SRCU callback, then checks mm_count. A put that frees at once is caught (the toy's
    /// assertion and S7). Exhaustive: 28 executions (call_srcu), 6 (kfree).
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void GetPutFreesViaCallSrcuAfterAGracePeriod(bool callSrcu)
    {
        var r = Check(KernelConfig.Default, async k =>
        {
            var w = MmWorld.Create(k, callSrcu ? new Mm(k) : new MmPutWithoutGracePeriod(k));
            var ops = new GetPutOps();
            var a = await w.code.mmu_notifier_get(ops, w.mm);
            var b = await w.code.mmu_notifier_get(ops, w.mm);
            Sim.Assert(!mmu_notifier.IS_ERR(a) && ReferenceEquals(a, b) && a.users.Peek == 2 && ops.allocations == 1, "the second get shares the first");
            var munmap = w.Run("qemu", 4992, () => w.code.do_munmap(w.mm, 0x1000, 0x1002));
            var driver = w.Run("driver", 5000, async () =>
            {
                for (var i = 0; i < 2; i++)
                {
                    if (w.code is MmPutWithoutGracePeriod broken) await broken.mmu_notifier_put_kfree(a);
                    else await w.code.mmu_notifier_put(a);
                    if (i == 0) Sim.Assert(a.hlist.pprev.Peek && !ops.freed_flag.Peek, "the first put keeps the subscription");
                }
                Sim.Assert(!a.hlist.pprev.Peek, "the last put unhooks it");
            });
            await MmWorld.Join(munmap, driver);
            await srcu_barrier(w.code.srcu);   // the SRCU callback has run (module unload; mmu_notifier_synchronize only waits for a grace period)
            Sim.Assert(ops.freed_flag.Peek, "freed");
            await w.code.lifetimes.mm_count_check(w.mm);
        });
        if (callSrcu)
        {
            Assert.True(r.Exhaustive, Describe(r));
            Assert.Empty(r.Violations);
            return;
        }
        Assert.Contains(r.Violations, v => v.Kind == "assertion");
        Assert.Contains(Reports(r, "S7"), v => v.Kind == "callback-after-free");
    }

    /// <summary>
    /// mmu_notifier_get_locked hands back the registration's error as an ERR_PTR and frees what alloc_notifier
    /// returned (out_free): here the subscriber also has arch_invalidate_secondary_tlbs, so registration fails
    /// with -EINVAL and a WARN (§1.5 step 1).
    /// </summary>
    [Fact]
    public void GetLockedReturnsTheRegistrationErrorAndFreesTheNotifier()
    {
        var r = Check(KernelConfig.Default, async k =>
        {
            var w = MmWorld.Create(k);
            var ops = new GetPutOps(alsoSecondaryTlbs: true);
            await down_write(w.mm.mmap_lock);
            var sub = await w.code.mmu_notifier_get_locked(ops, w.mm);
            await up_write(w.mm.mmap_lock);
            Sim.Assert(mmu_notifier.IS_ERR(sub) && mmu_notifier.PTR_ERR(sub) == -Mm.EINVAL, "ERR_PTR(-EINVAL)");
            Sim.Assert(ops.allocations == 1 && ops.freed_flag.Peek, "free_notifier called for what alloc_notifier returned");
            await w.code.lifetimes.mm_count_check(w.mm);
        });
        Assert.DoesNotContain(r.Violations, v => v.Kind == "assertion");
        Assert.Equal("secondary-tlbs-and-start-end", Assert.Single(r.Violations.OfType<KernelReport>()).Kind);
    }
}
