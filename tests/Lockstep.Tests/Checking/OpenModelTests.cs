using Lockstep.Engine;
using Lockstep.Models.mm;
using Lockstep.Models.Scenarios;
using Lockstep.Models.virt.kvm;
using Op = Lockstep.Models.mm.mmu_notifier_ops.Op;

namespace Lockstep.Tests.Checking;

/// <summary>The open model's own rules: which ops a subscriber has, and what a world may be.</summary>
public class OpenModelTests
{
    private sealed class StartOnly : mmu_notifier_ops
    {
        public override SimTask<int> invalidate_range_start(mmu_notifier subscription, mmu_notifier_range range) => SimTask<int>.FromValue(0);
    }

    [Fact]
    public void ImplementsIsWhatTheSubscriberOverrides()
    {
        Assert.Equal(Op.invalidate_range_start, new StartOnly().Implements);
        Assert.Equal(Op.invalidate_range_start | Op.invalidate_range_end | Op.clear_flush_young | Op.clear_young | Op.test_young | Op.release,
            Implemented(typeof(KvmMain)));
    }

    /// <summary>The derivation reads the type only: an uninitialised instance will do (a real KvmMain is built inside a model run).</summary>
    private static Op Implemented(Type t)
        => (Op)typeof(mmu_notifier_ops).GetProperty(nameof(mmu_notifier_ops.Implements))!.GetValue(System.Runtime.CompilerServices.RuntimeHelpers.GetUninitializedObject(t))!;

    [Theory]
    [InlineData("overlap", "VMAs at 0x1000 and 0x1001 overlap")]
    [InlineData("slot-outside", "VM 0: memslot at gfn 0x0 (4 pages at hva 0x1000) is not inside one VMA")]
    [InlineData("slots-overlap", "VM 0: memslots at gfn 0x0 and 0x1 overlap")]
    [InlineData("gpc-outside", "VM 0: gpc at hva 0x2000 is outside every VMA")]
    [InlineData("no-vma", "a world needs at least one VMA")]
    [InlineData("private-riscv", "VM 0: private memslot 32765 on riscv: only x86 has them")]
    [InlineData("faulted-outside", "VM 0: faulted gfn 0x5 is in no memslot")]
    public void AnInconsistentWorldIsRefusedInOneLine(string world, string message)
    {
        var e = Assert.Throws<ArgumentException>(() => (world switch
        {
            "overlap" => WorldSpec.Builder().Vma(0x1000, 2).Vma(0x1001, 2),
            "slot-outside" => WorldSpec.Builder().Vma(0x1000, 2).Vm(vm => vm.Memslot(0, 4, 0x1000)),
            "slots-overlap" => WorldSpec.Builder().Vma(0x1000, 4).Vm(vm => vm.Memslot(0, 2, 0x1000).Memslot(1, 2, 0x1002)),
            "gpc-outside" => WorldSpec.Builder().Vma(0x1000, 2).Vm(vm => vm.Memslot(0, 2, 0x1000).Gpc(0x2000)),
            "private-riscv" => WorldSpec.Builder().Vma(0x1000, 2).Vma(0x3000, 1, anonymous: false, shared: true)
                .Vm(vm => vm.Memslot(0, 2, 0x1000).PrivateMemslot(KvmMain.APIC_ACCESS_PAGE_PRIVATE_MEMSLOT, 0xfee00, 1, 0x3000)).Arch(Arch.riscv),
            "faulted-outside" => WorldSpec.Builder().Vma(0x1000, 2).Vm(vm => vm.Memslot(0, 2, 0x1000).Faulted(vcpu: 0, 5)),
            _ => WorldSpec.Builder(),
        }).Build());
        Assert.Equal(message, e.Message);
    }

    [Fact]
    public void OnlyKvmsPrivateMemslotsAreDeclaredPrivate()
        => Assert.Equal("memslot 7 is not one of KVM's private memslots",
            Assert.Throws<ArgumentException>(() => WorldSpec.Builder().Vm(vm => vm.PrivateMemslot(7, 0, 1, 0x1000))).Message);

    /// <summary>A scenario's vCPU tasks decide how many vCPUs each VM gets; a task on a VM the world lacks is refused.</summary>
    [Fact]
    public void TheWorldHasTheVcpusItsTasksRun()
    {
        var two = new Scenario("two", "", WorldSpec.GuestRam, [Tasks.Vcpu(1, [1]), Tasks.Guest(0, [0])]);
        Assert.Equal([2], two.Vcpus);
        Assert.Equal([0], new Scenario("none", "", WorldSpec.GuestRam, [Tasks.OomReaper()]).Vcpus);
        var e = Assert.Throws<ArgumentException>(() => new Scenario("stray", "", WorldSpec.GuestRam, [Tasks.Vcpu(0, [0], vm: 1)]));
        Assert.Equal("task CPU 0/KVM runs a vCPU of VM 1, but the world has 1 VM(s)", e.Message);
    }

    [Fact]
    public void TheThreadsWorldIsOneVmaOneVmOneMemslotOneGpc()
    {
        var w = WorldSpec.GuestRam;
        Assert.Equal(new VmaSpec(0x1000, 2), Assert.Single(w.Vmas));
        var vm = Assert.Single(w.Vms);
        Assert.Equal(new MemslotSpec(0, 2, 0x1000), Assert.Single(vm.Memslots));
        Assert.Equal(0x1001UL, Assert.Single(vm.Gpcs));
        Assert.Empty(w.Dmirrors);
    }
}
