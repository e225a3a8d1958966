using Lockstep.Engine;
using Lockstep.Kernel;
using Lockstep.Models.mm;
using static Lockstep.Tests.MmTests.MmHarness;
using K = Lockstep.Kernel.Kernel;
using Op = Lockstep.Models.mm.mmu_notifier_ops.Op;

namespace Lockstep.Tests.MmTests;

/// <summary>Interval notifiers (KERNEL-FACTS §1.3, §1.6–§1.9) with a toy device driver written like Documentation/mm/hmm.rst.</summary>
public class IntervalNotifierTests
{
    private static async SimTask<ToyDevice> Insert(MmWorld w, string name, ulong start, ulong length)
    {
        var dev = new ToyDevice(w.kernel, name);
        await w.code.stale_mappings.add(dev.maps);
        var ret = await w.code.mmu_interval_notifier_insert(dev.notifier, w.mm, start, length, dev);
        Sim.Assert(ret == 0, $"mmu_interval_notifier_insert returned {ret}");
        return dev;
    }

    /// <summary>
    /// The read_begin / read_retry protocol (§1.9): a driver faults hva 0x1000 (reads the CPU page table after
    /// mmu_interval_read_begin, installs the page under its lock) while qemu munmaps it. A driver that installs only
    /// when mmu_interval_read_retry is false never maps a page that is then freed; one that skips the check installs
    /// a page the invalidation already passed over and is caught when munmap frees it (S1).
    /// Exhaustive: 11 executions (with the check), 10 (without).
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void ADriverThatChecksReadRetryNeverMapsAFreedPage(bool checksRetry)
    {
        var r = Check(KernelConfig.Default, async k =>
        {
            var w = MmWorld.Create(k);
            var dev = await Insert(w, "dev", 0x1000, 2);
            var munmap = w.Run("qemu", 4992, () => w.code.do_munmap(w.mm, 0x1000, 0x1002));
            var fault = w.Run("dev-fault", 5001, async () =>
            {
                var ret = await dev.fault(w.code, w.mm, 0x1000, checksRetry);
                Sim.Assert(ret == 0 || ret == -ToyDevice.EFAULT, $"fault returned {ret}");
            });
            await MmWorld.Join(munmap, fault);
            var subscriptions = w.mm.notifier_subscriptions.Peek!;
            Sim.Assert(subscriptions.active_invalidate_ranges.Peek == 0 && await subscriptions.invalidate_seq.Read() == 4, "one invalidation, thawed (2 -> 3 -> 4)");
        });
        Assert.True(r.Exhaustive, Describe(r));
        if (checksRetry)
        {
            Assert.Empty(r.Violations);
            return;
        }
        var s1 = Assert.Single(Reports(r, "S1"));
        Assert.Contains("still mapped by: dev device PTE hva 0x1000 -> pfn 0x1000", s1.Text);
        Assert.Contains(" do_munmap\n", s1.Text);
    }

    /// <summary>
    /// §1.7: the itree is invalidated first, and an interval notifier that returns false in a non-blockable range makes
    /// __mmu_notifier_invalidate_range_start return -EAGAIN at once — after mn_itree_inv_end (active ranges back to 0,
    /// the tree thawed) and without calling the classic subscribers at all. The reaper then skips the VMA (L2) on each
    /// of its 10 attempts. When the interval notifier succeeds, the classic one gets its start and end.
    /// Exhaustive: 1 execution each.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void AFailingItreeReturnsBeforeClassicSubscribers(bool itreeFails)
    {
        var r = Check(KernelConfig.Default, async k =>
        {
            var w = MmWorld.Create(k);
            var toy = await w.Register(new ToyMmu(k, "toy", ToyMmu.StartEnd, LockKind.raw_spinlock_t));
            var dev = await Insert(w, "dev", 0x1000, 2);
            dev.fail_nonblock = itreeFails;
            await MmWorld.Join(w.OomKillAndReap());
            var subscriptions = w.mm.notifier_subscriptions.Peek!;
            var attempts = itreeFails ? Mm.MAX_OOM_REAP_RETRIES : 1;
            Sim.Assert(dev.invalidations.Count == attempts, $"{dev.invalidations.Count} interval invalidations");
            Sim.Assert(toy.starts.Count == (itreeFails ? 0 : 1) && toy.ends.Count == toy.starts.Count, $"classic: {toy.starts.Count} starts, {toy.ends.Count} ends");
            Sim.Assert(subscriptions.active_invalidate_ranges.Peek == 0, "mn_itree_inv_end was called");
            Sim.Assert(await subscriptions.invalidate_seq.Read() == 2 + 2 * (ulong)attempts, "frozen and thawed once per attempt");
        });
        Assert.True(r.Exhaustive, Describe(r));
        Assert.DoesNotContain(r.Violations, v => v.Kind == "assertion");
        Assert.Empty(Reports(r, "S5"));
        if (itreeFails) Assert.Contains(Reports(r, "L2"), v => v.Kind == "vma-not-reaped");
        else Assert.Empty(r.Violations);
    }

    /// <summary>A false return in a blockable range is a contract WARN (S5); the walk goes on to the classic subscribers.</summary>
    [Fact]
    public void AnIntervalNotifierFailingABlockableInvalidateIsAWarn()
    {
        var r = Check(KernelConfig.Default, async k =>
        {
            var w = MmWorld.Create(k);
            var toy = await w.Register(new ToyMmu(k, "toy", ToyMmu.StartEnd, LockKind.raw_spinlock_t));
            var dev = await Insert(w, "dev", 0x1000, 2);
            dev.fail_always = true;
            await MmWorld.Join(w.Run("qemu", 4992, () => w.code.do_munmap(w.mm, 0x1000, 0x1002)));
            Sim.Assert(toy.starts.Count == 1 && toy.ends.Count == 1, "the classic subscriber is still called");
        });
        Assert.DoesNotContain(r.Violations, v => v.Kind == "assertion");
        Assert.Equal("itree-invalidate-failed-blockable", Assert.Single(Reports(r, "S5")).Kind);
    }

    /// <summary>
    /// Deferred insert and remove (§1.3, §1.8, §1.9). While munmap's invalidation has the tree frozen, a second
    /// notifier inserted over the range is queued on deferred_list (and gets the current odd seq, so its first
    /// read_begin waits for that invalidation to end), and removing the first one is deferred too and waits on wq
    /// until the global seq moves on — so the removed notifier's invalidate is neither running nor called after its
    /// remove returns (S7). In every interleaving the last mn_itree_inv_end applies both, thaws the tree and wakes
    /// the waiters. Exhaustive: 24 executions.
    /// </summary>
    [Fact]
    public void InsertAndRemoveDuringAnInvalidationAreDeferred()
    {
        var deferredInserts = 0;
        var r = Check(KernelConfig.Default, async k =>
        {
            var w = MmWorld.Create(k);
            var dev1 = await Insert(w, "dev1", 0x1000, 1);
            var subscriptions = w.mm.notifier_subscriptions.Peek!;
            var munmap = w.Run("qemu", 4992, () => w.code.do_munmap(w.mm, 0x1000, 0x1002));
            var driver = w.Run("driver", 5001, async () =>
            {
                var dev2 = await Insert(w, "dev2", 0x1001, 1);
                if (subscriptions.deferred_list.Peek.Any(n => n.sub == dev2.notifier)) deferredInserts++;
                var seq = await w.code.mmu_interval_read_begin(dev2.notifier);
                Sim.Assert((seq & 1) == 1, "interval seqs are odd");
                Sim.Assert(await subscriptions.invalidate_seq.Read() != seq, "read_begin returned while the colliding invalidation still runs");
                await w.code.mmu_interval_notifier_remove(dev1.notifier);
                Sim.Assert(subscriptions.itree.Peek.All(n => n.sub != dev1.notifier), "dev1 is out of the tree when remove returns");
            });
            await MmWorld.Join(munmap, driver);
            Sim.Assert(subscriptions.itree.Peek.Count == 1 && subscriptions.itree.Peek[0].sub.container is ToyDevice { name: "dev2" }, "only dev2 in the tree");
            Sim.Assert(subscriptions.deferred_list.Peek.Count == 0 && subscriptions.active_invalidate_ranges.Peek == 0, "nothing left deferred or active");
            Sim.Assert((await subscriptions.invalidate_seq.Read() & 1) == 0, "the tree is thawed");
        });
        Assert.True(r.Exhaustive, Describe(r));
        Assert.Empty(r.Violations);
        Assert.True(deferredInserts > 0, "an insert during a frozen tree was explored");
    }

    /// <summary>
    /// §1.6: exit_mmap's mmu_notifier_release runs mn_itree_release: every interval notifier's invalidate with a
    /// blockable MMU_NOTIFY_RELEASE range over [0, ULONG_MAX) and an odd cur_seq, then mn_itree_inv_end (before the
    /// per-VMA invalidations of the unmap). The driver removes its notifier afterwards and mm_count balances. Exhaustive: 1 execution.
    /// </summary>
    [Fact]
    public void ExitMmapReleasesTheItree()
    {
        var r = Check(KernelConfig.Default, async k =>
        {
            var w = MmWorld.Create(k);
            var dev = await Insert(w, "dev", 0x1000, 2);
            await dev.spte.Write(dev.spte.Peek.SetItem(0x1001, w.vma.pte[1].Peek!));   // the device maps a page
            await MmWorld.Join(w.Run("qemu", 4992, w.exit_mm));
            var (range, cur_seq) = dev.invalidations[0];
            Sim.Assert(range.@event == mmu_notifier_event.MMU_NOTIFY_RELEASE && range.mmu_notifier_range_blockable(), "a blockable RELEASE range");
            Sim.Assert(range.start == 0 && range.end == ulong.MaxValue && (cur_seq & 1) == 1, "over everything, odd cur_seq");
            // exit_mmap's own per-VMA (blockable) invalidations follow the release; the driver recorded the last cur_seq.
            Sim.Assert(dev.invalidations.Count == 1 + w.mm.vmas.Length, $"{dev.invalidations.Count} invalidations");
            Sim.Assert(await dev.notifier.invalidate_seq.Read() == dev.invalidations[^1].cur_seq, "the driver recorded the seq");
            Sim.Assert(dev.spte.Peek.IsEmpty, "the release invalidate zapped the device");
            await w.code.mmu_interval_notifier_remove(dev.notifier);
            await w.code.lifetimes.mm_count_check(w.mm);
        });
        Assert.Empty(r.Violations);
    }

    /// <summary>
    /// [analysis] KERNEL-FACTS §1.7: if the itree part of a start succeeds but a classic subscriber then fails it,
    /// __mmu_notifier_invalidate_range_start returns -EAGAIN without mn_itree_inv_end, and the caller will not call end.
    /// The model keeps that asymmetry: after the reaper's 10 such attempts active_invalidate_ranges is 10 and the tree
    /// stays frozen, so a later mmu_interval_read_begin on a notifier of that mm waits forever (a hang, S4).
    /// </summary>
    [Fact]
    public void AClassicSubscriberFailingAfterTheItreeLeavesTheTreeFrozen()
    {
        var r = Check(KernelConfig.Default, async k =>
        {
            var w = MmWorld.Create(k);
            await w.Register(new ToyMmu(k, "eagain", Op.invalidate_range_start) { nonblock_start_returns = -Mm.EAGAIN });
            var dev = await Insert(w, "dev", 0x1000, 2);
            await MmWorld.Join(w.OomKillAndReap());
            var subscriptions = w.mm.notifier_subscriptions.Peek!;
            Sim.Assert(subscriptions.active_invalidate_ranges.Peek == Mm.MAX_OOM_REAP_RETRIES, $"{subscriptions.active_invalidate_ranges.Peek} ranges left active");
            Sim.Assert((await subscriptions.invalidate_seq.Read() & 1) == 1, "the tree stays frozen");
            await MmWorld.Join(w.Run("dev-fault", 5001, () => w.code.mmu_interval_read_begin(dev.notifier)));
        });
        Assert.DoesNotContain(r.Violations, v => v.Kind == "assertion");
        var hang = Assert.Single(r.Violations.OfType<DeadlockViolation>());
        Assert.Contains("dev-fault/5001 (waiting on subscriptions->wq)", hang.Message);
    }
}
