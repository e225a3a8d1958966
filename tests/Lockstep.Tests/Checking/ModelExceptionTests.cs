using Lockstep.Engine;
using Lockstep.Kernel;
using Lockstep.Models;
using Lockstep.Models.mm;
using Lockstep.Models.Proposals;
using Lockstep.Models.arch.x86;
using Lockstep.Models.virt.kvm;

namespace Lockstep.Tests.Checking;

/// <summary>
/// An exception thrown by model code becomes a report with its token (issue 11): "Collection was modified" in kernel
/// code is a walk whose list was freed or changed without the walker's lock, reported in the kernel's words (S7); any
/// other exception stays a model error of its cell.
/// </summary>
public class ModelExceptionTests
{
    private static ScenarioRun Run(Proposal proposal, string scenario, IStrategy strategy, long executions)
    {
        var registry = Registry.WithBuiltIns();
        if (!registry.Proposals.Contains(proposal)) registry.Register(proposal);
        return Suite.Run(registry, proposal, KernelConfig.Default, registry.Scenario(scenario), strategy,
            new ExplorationOptions { MaxExecutions = executions, Shrink = false });
    }

    private static KernelReport ListCorruption(ScenarioRun r)
        => Assert.Single(r.Exploration.Violations.OfType<KernelReport>(), v => v.Kind == "list-corruption");

    /// <summary>
    /// The deferred worker walks kvm->gpc_list under gpc_lock while kvm_destroy_vm frees the VM (clears the list): with
    /// the list engine-visible DPOR tries the free between two steps of the walk, and the crash (found by random, seed
    /// 9, before the list was engine-visible, while DPOR called the cell clean) is a classified report whose token
    /// replays it.
    /// </summary>
    [Fact]
    public void DporFindsTheDeferredWorkerWalkingAFreedGpcList()
    {
        var registry = Registry.WithBuiltIns();
        var scenario = registry.Scenario("oom-reap-vs-exit");
        var r = Run(DeferNonblockWork.ReturnZero, scenario.Id, new DporStrategy(), 200_000);
        var report = ListCorruption(r);
        Assert.Equal("BUG: KASAN: use-after-free or list corruption in gfn_to_pfn_cache_invalidate_start: kvm->gpc_list changed while it walked it", report.Message);
        Assert.Contains(" kvm_mmu_notifier_invalidate_range_start\n", report.Text);
        Assert.Contains(" process_one_work\n", report.Text);
        Assert.Equal(["S7"], Suite.Classify(registry, report, scenario).Select(c => c.Property));
        Assert.Null(r.ModelError);

        var token = CheckToken.For(registry, DeferNonblockWork.ReturnZero, KernelConfig.Default, scenario, report.Token).ToString();
        var replay = Suite.Replay(registry, token);
        Assert.Contains(replay.Replay.Violations.OfType<KernelReport>(), v => v.Kind == "list-corruption" && v.Message == report.Message);
    }

    /// <summary>
    /// A patch that walks a plain list another task changes: the same report, naming the patch's function. (The
    /// explorer does not see a plain list, so this uses the random strategy; DPOR need not find it.)
    /// </summary>
    [Fact]
    public void APlainListChangedUnderAWalkIsReportedToo()
    {
        var proposal = new Proposal("walks-plain-list", "test", "test") { Kvm = m => new WalksPlainList(m), Mmu = kvm => new AppendsToThePlainList(kvm) };
        var r = Run(proposal, "munmap-vs-fault", new RandomStrategy(1, 2000), 2000);
        var report = ListCorruption(r);
        Assert.Equal("BUG: KASAN: use-after-free or list corruption in kvm_mmu_notifier_invalidate_range_start: a list changed while it walked it", report.Message);
        Assert.Null(r.ModelError);
    }

    /// <summary>Any other exception is a model error of the cell, with the token that replays it.</summary>
    [Fact]
    public void AnyOtherExceptionStaysAModelErrorWithItsToken()
    {
        var proposal = new Proposal("throws", "test", "test") { Kvm = m => new Throws(m) };
        var r = Run(proposal, "munmap-vs-fault", new DporStrategy(), 100_000);
        Assert.Empty(r.Findings);
        Assert.NotNull(r.ModelError);
        Assert.Contains("model code threw ArgumentException", r.ModelError);
        Assert.Contains("(token throws/default/munmap-vs-fault/", r.ModelError);
    }

    /// <summary>A patch's start that walks a plain list of its own, while the vCPU's fault appends to it.</summary>
    private sealed class WalksPlainList(Mm mm) : KvmMain(mm)
    {
        public readonly List<long> faulted = [-1];

        public override async SimTask<int> kvm_mmu_notifier_invalidate_range_start(mmu_notifier mn, mmu_notifier_range range)
        {
            using var fn = KernelFunction.Enter();
            foreach (var _ in faulted) await Sim.Yield();
            return await base.kvm_mmu_notifier_invalidate_range_start(mn, range);
        }
    }

    private sealed class AppendsToThePlainList(KvmMain kvm_code) : Mmu(kvm_code)
    {
        public override SimTask<bool> is_page_fault_stale(kvm k, long mmu_seq, long gfn)
        {
            ((WalksPlainList)kvm_code).faulted.Add(gfn);
            return base.is_page_fault_stale(k, mmu_seq, gfn);
        }
    }

    private sealed class Throws(Mm mm) : KvmMain(mm)
    {
        public override SimTask<int> kvm_mmu_notifier_invalidate_range_start(mmu_notifier mn, mmu_notifier_range range)
            => throw new ArgumentException("a patch's bug");
    }
}
