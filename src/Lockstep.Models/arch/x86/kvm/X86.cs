using Lockstep.Engine;
using Lockstep.Kernel;
using Lockstep.Models.mm;
using static Lockstep.Kernel.Api;

namespace Lockstep.Models.virt.kvm;

/// <summary>
/// arch/x86/kvm/x86.c as far as the VM's teardown goes: KVM's private memslots (APIC access page, EPT identity page
/// table, real-mode TSS), deleted by kvm_arch_destroy_vm through the memslot code and its kvm_swap_active_memslots
/// (KERNEL-FACTS §8 "x86 kvm_arch_destroy_vm").
/// </summary>
public partial class KvmMain
{
    // arch/x86/include/asm/kvm_host.h
    public const int TSS_PRIVATE_MEMSLOT = KVM_USER_MEM_SLOTS + 0;
    public const int APIC_ACCESS_PAGE_PRIVATE_MEMSLOT = KVM_USER_MEM_SLOTS + 1;
    public const int IDENTITY_PAGETABLE_PRIVATE_MEMSLOT = KVM_USER_MEM_SLOTS + 2;

    /// <summary>
    /// kvm_arch_destroy_vm up to the vCPUs' teardown: "free memory regions allocated on behalf of userspace, unless the
    /// memory map has changed due to process exit or fd copying" — only when current->mm is the VM's mm, i.e. the VMM
    /// closed the VM's last fd itself while its mm lives. (The model runs it for riscv VMs too; their worlds have no
    /// private memslot, so it only takes slots_lock.)
    /// </summary>
    protected virtual async SimTask kvm_arch_destroy_vm(kvm k)
    {
        using var fn = KernelFunction.Enter();
        if (await Mm.current_mm.Read() != k.mm) return;
        await mutex_lock(k.slots_lock);
        await __x86_set_memory_region(k, APIC_ACCESS_PAGE_PRIVATE_MEMSLOT);
        await __x86_set_memory_region(k, IDENTITY_PAGETABLE_PRIVATE_MEMSLOT);
        await __x86_set_memory_region(k, TSS_PRIVATE_MEMSLOT);
        await mutex_unlock(k.slots_lock);
    }

    /// <summary>
    /// __x86_set_memory_region(kvm, id, 0, 0), the deletion (the only call the model makes): if the private slot exists,
    /// delete it (kvm_set_internal_memslot, size 0), then vm_munmap its host range (a MAP_SHARED|MAP_ANONYMOUS mapping
    /// vm_mmap made for it in the VMM's mm, which is current->mm here).
    /// </summary>
    protected virtual async SimTask<int> __x86_set_memory_region(kvm k, int id)
    {
        using var fn = KernelFunction.Enter();
        lockdep_assert_held(k.slots_lock);
        var slot = (await k.memslots.Read()).id_to_memslot(id);   // id_to_memslot(kvm_memslots(kvm), id)
        if (slot == null) return 0;
        var hva = slot.userspace_addr;
        var old_npages = slot.npages;
        var r = await kvm_set_internal_memslot(k, new kvm_userspace_memory_region2(id, 0, 0, hva));
        if (r < 0) return r;
        await mm.do_munmap(k.mm, hva, hva + (ulong)old_npages);   // vm_munmap(hva, old_npages * PAGE_SIZE)
        return 0;
    }
}
