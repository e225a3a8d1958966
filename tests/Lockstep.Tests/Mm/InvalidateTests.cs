using Lockstep.Engine;
using Lockstep.Kernel;
using Lockstep.Models.mm;
using static Lockstep.Tests.MmTests.MmHarness;
using K = Lockstep.Kernel.Kernel;
using Op = Lockstep.Models.mm.mmu_notifier_ops.Op;

namespace Lockstep.Tests.MmTests;

/// <summary>The start/end contract of classic subscribers (KERNEL-FACTS §1.2, §1.7, §1.8) with toy subscribers, not KVM.</summary>
public class InvalidateTests
{
    /// <summary>
    /// S1: start must have removed every secondary mapping of the range before it returns, because the primary MMU may
    /// free the pages any time after that (§1.2). The reaper's gather holds one page here, so it frees the first page
    /// mid-range, before end (as zap_pte_range does when no batch page can be allocated under OOM). A toy that only
    /// unmaps in end is caught; one that unmaps in start is not. (With the default gather, which frees only after end,
    /// the late toy would go unnoticed.) Exhaustive: 1 execution each.
    /// </summary>
    [Theory]
    [InlineData(true, true)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(false, false)]
    public void StartMustUnmapBeforeReturning(bool reaper, bool unmapsInStart)
    {
        var r = Check(KernelConfig.Default, async k =>
        {
            var w = MmWorld.Create(k, new Mm(k) { mmu_gather_capacity = 1 });
            var toy = await w.Register(new ToyMmu(k, "toy", ToyMmu.StartEnd) { unmap_in_start = unmapsInStart, unmap_in_end = true });
            if (reaper) await MmWorld.Join(w.OomKillAndReap());
            else await MmWorld.Join(w.Run("qemu", 4992, () => w.code.do_munmap(w.mm, 0x1000, 0x1002)));
            Sim.Assert(toy.starts.Count == toy.ends.Count, "every start got its end");
        });
        Assert.True(r.Exhaustive, Describe(r));
        if (unmapsInStart)
        {
            Assert.Empty(r.Violations);
            return;
        }
        var s1 = Reports(r, "S1").First(v => v.Message.Contains("pfn 0x1000"));
        Assert.Equal("BUG: page pfn 0x1000 freed while a secondary MMU still maps it", s1.Text.Split('\n')[1]);
        Assert.Contains("still mapped by: toy spte hva 0x1000 -> pfn 0x1000", s1.Text);
        Assert.Contains(reaper ? " __oom_reap_task_mm\n" : " do_munmap\n", s1.Text);
        Assert.Contains(" tlb_flush_mmu\n unmap_page_range\n", s1.Text);   // freed mid-range, before end
    }

    /// <summary>
    /// S5: a notifier that can fail start must not implement end (§1.2). A toy returning -EAGAIN from a non-blockable
    /// start trips the core's WARN if it has an end, not if it has none; either way the reaper skips the VMA (L2).
    /// Exhaustive: 1 execution each.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void FailingStartWithAnEndTripsTheContractWarn(bool hasEnd)
    {
        var r = Check(KernelConfig.Default, async k =>
        {
            var w = MmWorld.Create(k);
            var ops = Op.invalidate_range_start | (hasEnd ? Op.invalidate_range_end : 0);
            await w.Register(new ToyMmu(k, "toy", ops) { nonblock_start_returns = -Mm.EAGAIN });
            await MmWorld.Join(w.OomKillAndReap());
        });
        Assert.True(r.Exhaustive, Describe(r));
        Assert.Contains(r.Violations.OfType<KernelReport>(), v => v.Kind == "vma-not-reaped");
        if (!hasEnd)
        {
            Assert.Empty(Reports(r, "S5"));
            return;
        }
        var warn = Assert.Single(Reports(r, "S5"));
        Assert.Equal("failing-start-has-end", warn.Kind);
        Assert.Contains("ToyMmu: invalidate_range_start returned -11 but ops has invalidate_range_end", warn.Text);
    }

    /// <summary>
    /// Two subscribers, one of which fails a non-blockable start with -EAGAIN (and has no end). The walk goes on past
    /// the failure, and the one whose start succeeded gets exactly one end — the compensating end, with the same range,
    /// called outside non_block_start (§1.7 step 3) — while the reaper itself calls no end for that VMA. That holds for
    /// each of the reaper's 10 attempts (every one fails). Subscribers are walked newest first (hlist_add_head), so
    /// registering the failing one first makes it the second in the walk. Exhaustive: 1 execution each.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void ASubscriberWhoseStartSucceededGetsItsCompensatingEnd(bool failingOneSecondInTheWalk)
    {
        var r = Check(KernelConfig.Rt, async k =>
        {
            var w = MmWorld.Create(k);
            var failing = new ToyMmu(k, "eagain", Op.invalidate_range_start, LockKind.raw_spinlock_t) { nonblock_start_returns = -Mm.EAGAIN };
            var good = new ToyMmu(k, "good", ToyMmu.StartEnd, LockKind.raw_spinlock_t);
            if (failingOneSecondInTheWalk)
            {
                await w.Register(failing);
                await w.Register(good);
            }
            else
            {
                await w.Register(good);
                await w.Register(failing);
            }
            await MmWorld.Join(w.OomKillAndReap());
            // Every attempt fails, so oom_reap_task tries MAX_OOM_REAP_RETRIES times, then gives up (§2.4).
            Sim.Assert(failing.starts.Count == Mm.MAX_OOM_REAP_RETRIES && good.starts.Count == Mm.MAX_OOM_REAP_RETRIES, "both starts called once per attempt");
            Sim.Assert(good.ends.Count == good.starts.Count, $"good got {good.ends.Count} ends for {good.starts.Count} starts");
            for (var i = 0; i < good.ends.Count; i++)
            {
                Sim.Assert(ReferenceEquals(good.ends[i].range, good.starts[i]), "the end has the start's range");
                Sim.Assert(good.ends[i].non_block_count == 0, "compensating ends are not in a non-blocking section");
                Sim.Assert(!good.ends[i].range.mmu_notifier_range_blockable(), "the range stays non-blockable");
            }
            Sim.Assert((w.mm.flags.Peek & MmFlags.MMF_OOM_SKIP) != 0, "the reaper gave up with MMF_OOM_SKIP");
        });
        Assert.True(r.Exhaustive, Describe(r));
        Assert.DoesNotContain(r.Violations, v => v.Kind == "assertion");
        Assert.Empty(Reports(r, "S5"));
        Assert.Contains(Reports(r, "L2"), v => v.Kind == "vma-not-reaped");
    }

    /// <summary>
    /// S2: the reaper calls start (and end) with non_block_count == 1 (§1.7, §2.6). A toy taking a spinlock_t there
    /// splats on PREEMPT_RT only (rt_spin_lock sleeps), a mutex splats on both, a raw_spinlock_t never does.
    /// Exhaustive: 1 execution each.
    /// </summary>
    [Theory]
    [InlineData(LockKind.raw_spinlock_t, "default", null)]
    [InlineData(LockKind.raw_spinlock_t, "rt", null)]
    [InlineData(LockKind.spinlock_t, "default", null)]
    [InlineData(LockKind.spinlock_t, "rt", "kernel/locking/spinlock_rt.c:48")]
    [InlineData(LockKind.mutex, "default", "kernel/locking/mutex.c:283")]
    [InlineData(LockKind.mutex, "rt", "kernel/locking/mutex.c:283")]
    public void ReaperAgainstAToyThatLocksInStart(LockKind lockKind, string config, string? splatAt)
    {
        var r = Check(KernelConfig.Parse(config), async k =>
        {
            var w = MmWorld.Create(k);
            await w.Register(new ToyMmu(k, "toy", ToyMmu.StartEnd, lockKind));
            await MmWorld.Join(w.OomKillAndReap());
        });
        Assert.True(r.Exhaustive, Describe(r));
        if (splatAt == null)
        {
            Assert.Empty(r.Violations);
            return;
        }
        var splats = Reports(r, "S2").Where(v => v.Kind == "might-sleep").ToList();
        var start = Assert.Single(splats, v => v.Text.Contains(" toy_invalidate_range_start\n"));
        Assert.StartsWith($"BUG: sleeping function called from invalid context at {splatAt}", start.Text);
        Assert.Contains("non_block: 1, pid: 53, name: oom_reaper", start.Text);
        Assert.Contains(" mmu_notifier_invalidate_range_start_nonblock\n __oom_reap_task_mm\n", start.Text);
        Assert.Contains(splats, v => v.Text.Contains(" toy_invalidate_range_end\n"));   // end runs under non_block too (§1.8)
    }

    /// <summary>
    /// §1.5 step 1: a subscriber may implement arch_invalidate_secondary_tlbs or start/end, not both — registration
    /// fails with -EINVAL and a WARN (S5). One of the two alone registers fine.
    /// </summary>
    [Theory]
    [InlineData(Op.arch_invalidate_secondary_tlbs | Op.invalidate_range_start, -Mm.EINVAL)]
    [InlineData(Op.arch_invalidate_secondary_tlbs | Op.invalidate_range_end, -Mm.EINVAL)]
    [InlineData(Op.arch_invalidate_secondary_tlbs, 0)]
    [InlineData(Op.invalidate_range_start | Op.invalidate_range_end, 0)]
    public void SecondaryTlbsAndStartEndCannotBothBeRegistered(Op ops, int expected)
    {
        var r = Check(KernelConfig.Default, async k =>
        {
            var w = MmWorld.Create(k);
            var toy = new ToyMmu(k, "iommu", ops);
            var ret = await w.code.mmu_notifier_register(toy.subscription, w.mm);
            Sim.Assert(ret == expected, $"mmu_notifier_register returned {ret}");
            var listed = toy.subscription.hlist.pprev.Peek;
            Sim.Assert(listed == (ret == 0), "registered iff 0");
            Sim.Assert(w.mm.mm_count.Peek == (ret == 0 ? 2 : 1), "mmgrab only on success");
        });
        Assert.DoesNotContain(r.Violations, v => v.Kind == "assertion");
        if (expected == 0) Assert.Empty(r.Violations);
        else Assert.Equal("secondary-tlbs-and-start-end", Assert.Single(Reports(r, "S5")).Kind);
    }
}
