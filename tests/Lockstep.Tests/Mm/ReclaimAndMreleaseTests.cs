using Lockstep.Engine;
using Lockstep.Kernel;
using Lockstep.Models.mm;
using static Lockstep.Tests.MmTests.MmHarness;
using K = Lockstep.Kernel.Kernel;
using Op = Lockstep.Models.mm.mmu_notifier_ops.Op;

namespace Lockstep.Tests.MmTests;

/// <summary>The other primary-MMU paths into the notifiers: reclaim's aging under the PTL (§1.2) and process_mrelease (§2.6).</summary>
public class ReclaimAndMreleaseTests
{
    private const Op AgingOps = ToyMmu.StartEnd | Op.clear_flush_young;

    /// <summary>
    /// Reclaim ages a page: folio_referenced → folio_referenced_one takes the PTL (a spinlock_t) and calls
    /// ptep_clear_flush_young_notify, so every subscriber's clear_flush_young runs under it (§1.2). A subscriber
    /// taking a spinlock_t (or KVM's rwlock_t mmu_lock, or a raw lock) there is fine on both configs — on RT the PTL is a
    /// sleeping lock itself and a nested RT lock is allowed. One that sleeps (a mutex) splats on !RT (in_atomic) and on
    /// RT too (RCU nest depth 1, plus lockdep's invalid wait context). Contrast ReaperAgainstAToyThatLocksInStart: the
    /// same spinlock_t in the reaper's non-blocking start splats on RT. Exhaustive: 1 execution each.
    /// </summary>
    [Theory]
    [InlineData(LockKind.spinlock_t, "default")]
    [InlineData(LockKind.spinlock_t, "rt")]
    [InlineData(LockKind.rwlock_t, "default")]
    [InlineData(LockKind.rwlock_t, "rt")]
    [InlineData(LockKind.raw_spinlock_t, "rt")]
    [InlineData(LockKind.mutex, "default")]
    [InlineData(LockKind.mutex, "rt")]
    public void AgingCallsClearFlushYoungUnderThePtl(LockKind lockKind, string config)
    {
        var r = Check(KernelConfig.Parse(config), async k =>
        {
            var w = MmWorld.Create(k);
            var toy = await w.Register(new ToyMmu(k, "toy", AgingOps, lockKind));
            await MmWorld.Join(w.Run("kswapd0", 95, async () =>
            {
                var referenced = await w.code.folio_referenced(w.mm, 0x1000);
                Sim.Assert(referenced == 1, $"folio_referenced returned {referenced}");
            }));
        });
        Assert.True(r.Exhaustive, Describe(r));
        Assert.DoesNotContain(r.Violations, v => v.Kind == "assertion");
        if (lockKind != LockKind.mutex)
        {
            Assert.Empty(r.Violations);
            return;
        }
        var splat = Assert.Single(Reports(r, "S2"));
        Assert.StartsWith("BUG: sleeping function called from invalid context at kernel/locking/mutex.c", splat.Text);
        Assert.Contains("non_block: 0, pid: 95, name: kswapd0", splat.Text);
        Assert.Contains(" toy_clear_flush_young\n __mmu_notifier_clear_flush_young\n ptep_clear_flush_young_notify\n folio_referenced_one\n folio_referenced\n", splat.Text);
        if (config == "default") Assert.Contains("in_atomic(): 1", splat.Text);
        else
        {
            Assert.Contains("RCU nest depth: 1, expected: 0", splat.Text);
            Assert.Contains(Reports(r, "S3"), v => v.Kind == "invalid-wait-context" && v.Detail == "&toy->lock under ptlock");
        }
    }

    /// <summary>Registration takes every rmap lock (mm_take_all_locks), so it excludes aging: both orders are clean. Exhaustive: 2 executions.</summary>
    [Fact]
    public void RegistrationExcludesTheRmapWalk()
    {
        var r = Check(KernelConfig.Rt, async k =>
        {
            var w = MmWorld.Create(k);
            var toy = new ToyMmu(k, "toy", AgingOps, LockKind.spinlock_t);
            await w.code.stale_mappings.add(toy.maps);
            var aging = w.Run("kswapd0", 95, () => w.code.folio_referenced(w.mm, 0x1001));
            var register = w.Run("qemu", 4992, async () => Sim.Assert(await w.code.mmu_notifier_register(toy.subscription, w.mm) == 0, "registered"));
            await MmWorld.Join(aging, register);
        });
        Assert.True(r.Exhaustive, Describe(r));
        Assert.Empty(r.Violations);
    }

    /// <summary>
    /// process_mrelease (§2.6 other caller): userspace (lmkd) reaps a SIGKILLed process with the same non-blocking
    /// __oom_reap_task_mm as the oom_reaper. Not dying: -EINVAL, nothing unmapped. Dying: 0 and the VMA is unmapped;
    /// a subscriber taking a spinlock_t in start splats on RT from process_mrelease (non_block: 1, in lmkd's context);
    /// one that fails start: -EAGAIN and the VMA stays (L2). Exhaustive: 1 execution each.
    /// </summary>
    [Theory]
    [InlineData(false, LockKind.raw_spinlock_t, "rt", false, -Mm.EINVAL)]
    [InlineData(true, LockKind.raw_spinlock_t, "rt", false, 0)]
    [InlineData(true, LockKind.spinlock_t, "default", false, 0)]
    [InlineData(true, LockKind.spinlock_t, "rt", false, 0)]
    [InlineData(true, LockKind.raw_spinlock_t, "default", true, -Mm.EAGAIN)]
    public void ProcessMreleaseReapsADyingProcess(bool killed, LockKind lockKind, string config, bool failsStart, int expected)
    {
        var r = Check(KernelConfig.Parse(config), async k =>
        {
            var w = MmWorld.Create(k);
            var toy = await w.Register(failsStart
                ? new ToyMmu(k, "toy", Op.invalidate_range_start, lockKind) { nonblock_start_returns = -Mm.EAGAIN }
                : new ToyMmu(k, "toy", ToyMmu.StartEnd, lockKind));
            if (killed) await w.victim.sigkill_pending.Write(true);   // kill(pid, SIGKILL)
            await MmWorld.Join(w.Run("lmkd", 610, async () =>
            {
                var ret = await w.code.process_mrelease(w.victim);
                Sim.Assert(ret == expected, $"process_mrelease returned {ret}");
            }));
            var unmapped = w.vma.pte.All(p => p.Peek == null);
            Sim.Assert(unmapped == (expected == 0), unmapped ? "unmapped" : "still mapped");
            await w.code.lifetimes.mm_count_check(w.mm);
        });
        Assert.True(r.Exhaustive, Describe(r));
        Assert.DoesNotContain(r.Violations, v => v.Kind == "assertion");
        if (failsStart)
        {
            Assert.Equal("vma-not-reaped", Assert.Single(r.Violations.OfType<KernelReport>()).Kind);
            return;
        }
        if (lockKind != LockKind.spinlock_t || config != "rt")
        {
            Assert.Empty(r.Violations);
            return;
        }
        var splat = Reports(r, "S2").First(v => v.Text.Contains(" toy_invalidate_range_start\n"));
        Assert.StartsWith("BUG: sleeping function called from invalid context at kernel/locking/spinlock_rt.c", splat.Text);
        Assert.Contains("non_block: 1, pid: 610, name: lmkd", splat.Text);
        Assert.Contains(" __oom_reap_task_mm\n process_mrelease\n", splat.Text);
    }

    /// <summary>
    /// process_mrelease racing the victim's own exit (exit_mm → exit_mmap) with a correct subscriber: no page freed
    /// while mapped, no hang; it returns 0 (reaped, or exit_mmap got there first: MMF_OOM_SKIP) or -ESRCH (task->mm
    /// already NULL). Exhaustive: 6,358 executions.
    /// </summary>
    [Fact]
    public void ProcessMreleaseRacingExitIsSafe()
    {
        var r = Check(KernelConfig.Rt, async k =>
        {
            var w = MmWorld.Create(k, new Mm(k) { mmu_gather_capacity = 1 });
            var toy = await w.Register(new ToyMmu(k, "toy", ToyMmu.StartEnd, LockKind.raw_spinlock_t));
            await w.victim.sigkill_pending.Write(true);
            var lmkd = w.Run("lmkd", 610, async () =>
            {
                var ret = await w.code.process_mrelease(w.victim);
                Sim.Assert(ret == 0 || ret == -Mm.ESRCH, $"process_mrelease returned {ret}");
            });
            var qemu = w.Run("qemu", 4992, async () =>
            {
                await w.exit_mm();
                await w.code.mmu_notifier_unregister(toy.subscription, w.mm);
            });
            await MmWorld.Join(lmkd, qemu);
            Sim.Assert(w.vma.pte.All(p => p.Peek == null), "everything unmapped");
            await w.code.lifetimes.mm_count_check(w.mm);
        });
        Assert.True(r.Exhaustive, Describe(r));
        Assert.Empty(r.Violations);
    }
}
