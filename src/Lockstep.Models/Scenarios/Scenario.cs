using Lockstep.Engine;
using Lockstep.Kernel;
using Lockstep.Models.mm;
using Lockstep.Models.virt.kvm;

namespace Lockstep.Models.Scenarios;

/// <summary>
/// What every scenario starts from (KERNEL-FACTS §6.4): a VMM process "qemu" whose mm has one anonymous guest-RAM
/// VMA of two pages, a VM with one memslot over it and one gfn->pfn cache on its second page.
/// </summary>
public sealed class World
{
    public required Kernel.Kernel kernel;
    public required Mm mm_code;
    public required KvmMain kvm_code;
    public required mm_struct mm;
    public required task_struct qemu;
    public required kvm kvm;
    public required kvm_memory_slot slot;
    public required vm_area_struct guest_ram;

    public static async SimTask<World> Create(Kernel.Kernel kernel, Mm mm_code, KvmMain kvm_code, Arch arch)
    {
        var allocator = new PageAllocator();
        var mm = new mm_struct(kernel, allocator);
        var guest_ram = new vm_area_struct(0x1000, 0x1002, VmFlags.None, anonymous: true, allocator);
        mm.vmas.Add(guest_ram);
        var slot = new kvm_memory_slot(0, base_gfn: 0, npages: 2, userspace_addr: 0x1000);
        var kvm = await kvm_code.kvm_create_vm(mm, new[] { slot }, KVM_HAVE_MMU_RWLOCK: arch != Arch.riscv);
        kvm.gpc_list.Add(new gfn_to_pfn_cache(kernel, 0x1001, guest_ram.pte[1].Peek));
        return new World
        {
            kernel = kernel, mm_code = mm_code, kvm_code = kvm_code, mm = mm,
            qemu = new task_struct(kernel, "qemu", 4992, mm), kvm = kvm, slot = slot, guest_ram = guest_ram,
        };
    }
}

/// <summary>The architecture a scenario's VM runs on: x86 (mmu_lock is an rwlock_t) or riscv (a spinlock_t).</summary>
public enum Arch { x86, riscv }

/// <summary>
/// A scenario: the tasks that race, and which liveness property a task that hangs violates. Adding one is a few lines:
/// name, the tasks (comm, pid, body) and the liveness roles.
/// </summary>
public sealed record Scenario(
    string Id,
    string Description,
    IReadOnlyList<Scenario.TaskSpec> Tasks,
    IReadOnlyDictionary<string, string> Liveness,
    Arch Arch = Arch.x86)
{
    public sealed record TaskSpec(string Comm, int Pid, Func<World, SimTask> Body);

    /// <summary>The whole model: create the world, run the tasks, join them, then check quiescence.</summary>
    public Func<SimTask> Model(Kernel.Kernel kernel, Proposals.Proposal proposal) => kernel.Boot(async () =>
    {
        var mm_code = proposal.Mm(kernel);
        var world = await World.Create(kernel, mm_code, proposal.Kvm(mm_code), Arch);
        var tasks = Tasks.Select(t => kernel.kthread_run(() => t.Body(world), t.Comm, t.Pid)).ToList();
        foreach (var t in tasks) await t.Exited!.Value.Join();
        await Quiescence.Check(world);
    });
}

/// <summary>When every task is done, nothing may be left open (S6, L4), the reaper must have finished (L1).</summary>
public static class Quiescence
{
    public static async SimTask Check(World w)
    {
        await Kernel.Kernel.wait_for_deferred_work();
        if (w.kvm.freed) return;
        var count = await w.kvm.mn_active_invalidate_count.Read();
        if (count != 0)
        {
            var text = $"mn_active_invalidate_count is {count} with no invalidation running: memslot updates hang, gpc refreshes retry forever";
            Sim.Report(KernelLog.Warning("S6", "count-leaked", $"WARNING: {text}", "count"));
            Sim.Report(KernelLog.Warning("L4", "count-leaked", $"WARNING: {text}", "count"));
        }
        if (w.kvm.mmu_invalidate_in_progress != 0)
        {
            var text = $"mmu_invalidate_in_progress is {w.kvm.mmu_invalidate_in_progress} with no invalidation running: vCPU faults retry forever";
            Sim.Report(KernelLog.Warning("S6", "in-progress-leaked", $"WARNING: {text}", "in_progress"));
            Sim.Report(KernelLog.Warning("L4", "in-progress-leaked", $"WARNING: {text}", "in_progress"));
        }
    }
}
