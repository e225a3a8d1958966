using Lockstep.Engine;
using Lockstep.Kernel;
using Lockstep.Models;
using Lockstep.Models.mm;
using Lockstep.Models.Proposals;
using Lockstep.Models.virt.kvm;

namespace Lockstep.Tests.Checking;

public class RunAllTests
{
    private static volatile bool _release;

    /// <summary>A patch whose start spins without a scheduling point until the test lets it go.</summary>
    private sealed class SpinsInStart(Mm mm) : KvmMain(mm)
    {
        public override SimTask<int> kvm_mmu_notifier_invalidate_range_start(mmu_notifier mn, mmu_notifier_range range)
        {
            while (!_release) Thread.SpinWait(1000);
            return base.kvm_mmu_notifier_invalidate_range_start(mn, range);
        }
    }

    [Fact]
    public void AModelThatNeverReachesASchedulingPointIsAbandonedAsAModelErrorAndTheOtherRunsFinish()
    {
        var registry = Registry.WithBuiltIns();
        var spins = new Proposal("spins", "start spins forever", "test") { Kvm = m => new SpinsInStart(m) };
        registry.Register(spins);
        var jobs = new[]
        {
            (spins, KernelConfig.Default, registry.Scenario("munmap-vs-fault")),
            (registry.Proposal("mainline"), KernelConfig.Default, registry.Scenario("munmap-vs-fault")),
        };
        try
        {
            var runs = Suite.RunAll(registry, jobs, () => new DporStrategy(), _ => new ExplorationOptions(), parallelism: 2, stallLimit: TimeSpan.FromSeconds(1));
            Assert.Contains("without reaching a scheduling point", runs[0].ModelError);
            Assert.Null(runs[1].ModelError);
            Assert.True(runs[1].Exploration.Exhaustive);
        }
        finally
        {
            _release = true;
        }
    }
}
