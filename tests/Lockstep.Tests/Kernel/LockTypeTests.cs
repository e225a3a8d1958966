using Lockstep.Engine;
using Lockstep.Kernel;
using static Lockstep.Kernel.Api;
using static Lockstep.Tests.Kernel.KernelHarness;

namespace Lockstep.Tests.Kernel;

/// <summary>
/// A lock's declared type decides what its calls do (KERNEL-FACTS §4.1), so a patch that changes a declaration changes
/// nothing else: the calls behave as the converted kernel code's would.
/// </summary>
public class LockTypeTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ReadLockIrqOnALockDeclaredRawDisablesIrqsAndPreemptionOnEveryKernel(bool rt)
    {
        var r = Check(rt ? KernelConfig.Rt : KernelConfig.Default, async k =>
        {
            var gpc_lock = LockType.raw_spinlock_t.Init(k, "&gpc->lock");
            await read_lock_irq(gpc_lock);
            Sim.Assert(current.irqs_disabled && current.preempt_count == 1, "raw_spin_lock_irq semantics");
            might_sleep();   // atomic context on RT too
            await read_unlock_irq(gpc_lock);
            Sim.Assert(!current.irqs_disabled && current.preempt_count == 0, "raw_spin_unlock_irq semantics");
        });
        Assert.DoesNotContain("assertion", Kinds(r));
        Assert.Contains("might-sleep", Kinds(r));
    }

    /// <summary>Two tasks take <paramref name="type"/> with read_lock and assert that they are alone inside.</summary>
    private static ExplorationResult TwoReaders(LockType type) => Check(KernelConfig.Default, async k =>
    {
        var l = type.Init(k, "&kvm->mmu_lock");
        var inside = new Shared<int>("readers inside");
        async SimTask Reader()
        {
            await read_lock(l);
            Sim.Assert(await inside.Update(static n => n + 1) == 0, "two readers inside");
            await inside.Update(static n => n - 1);
            await read_unlock(l);
        }
        var a = k.kthread_run(Reader, "a", 1);
        var b = k.kthread_run(Reader, "b", 2);
        await a.Exited!.Value.Join();
        await b.Exited!.Value.Join();
    });

    [Fact]
    public void ReadersOfALockDeclaredSpinlockExcludeEachOther()
    {
        var r = TwoReaders(LockType.spinlock_t);
        Assert.True(r.Exhaustive);
        Assert.Empty(r.Violations);
    }

    /// <summary>The same model on an rwlock_t finds both readers inside: the check can fail.</summary>
    [Fact]
    public void ReadersOfAnRwlockShareIt() => Assert.Contains("assertion", Kinds(TwoReaders(LockType.rwlock_t)));
}
