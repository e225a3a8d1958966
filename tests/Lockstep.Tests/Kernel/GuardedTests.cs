using Lockstep.Engine;
using Lockstep.Kernel;
using static Lockstep.Kernel.Api;
using static Lockstep.Tests.Kernel.KernelHarness;

namespace Lockstep.Tests.Kernel;

/// <summary>
/// <see cref="Guarded{T}"/>: state that a modelled lock protects is checked to be touched only under it, in every
/// explored execution (a lockdep_assert_held WARN otherwise); two increments under the lock are explored in both orders
/// and never lose one.
/// </summary>
public class GuardedTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void AccessesOutsideTheLockAreReported(bool locked)
    {
        var r = Check(KernelConfig.Default, async k =>
        {
            var lk = new spinlock_t(k, "&kvm->mmu_lock");
            var n = new Guarded<int>("kvm->mmu_invalidate_range_start", lk, 7);
            n.Value = 0;   // set-up: one thread, nothing shared yet
            var tasks = Enumerable.Range(0, 2).Select(i => k.kthread_run(async () =>
            {
                if (locked) await spin_lock(lk);
                n.Value++;
                if (locked) await spin_unlock(lk);
            }, $"t{i}", 100 + i)).ToList();
            foreach (var t in tasks) await t.Exited!.Value.Join();
            Sim.Assert(n.Peek == 2, "both increments");
        });
        Assert.True(r.Exhaustive);
        if (locked)
        {
            Assert.Empty(r.Violations);
            Assert.Equal(2, r.Executions);
            return;
        }
        // One per task: with no modelled function on its stack, a WARN's signature names the task (t0, t1).
        var warns = r.Violations.Where(v => v.Kind == "assert-held").ToList();
        Assert.Equal(2, warns.Count);
        Assert.All(warns, warn => Assert.Equal("WARNING: lockdep_assert_held(&kvm->mmu_lock) failed: kvm->mmu_invalidate_range_start read without it", warn.Message));
    }

    [Fact]
    public void AWriteNeedsTheLockExclusively()
    {
        var r = Check(KernelConfig.Default, async k =>
        {
            var lk = new rwlock_t(k, "&kvm->mmu_lock");
            var n = new Guarded<int>("kvm->mmu_invalidate_range_end", lk);
            var t = k.kthread_run(async () =>
            {
                await read_lock(lk);
                _ = n.Value;   // a read under the read lock is fine
                n.Value = 1;   // a write is not
                await read_unlock(lk);
            }, "t", 100);
            await t.Exited!.Value.Join();
        });
        Assert.Equal("WARNING: lockdep_assert_held_write(&kvm->mmu_lock) failed: kvm->mmu_invalidate_range_end written without it", Single(r, "assert-held").Message);
    }
}
