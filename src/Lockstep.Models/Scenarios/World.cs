using Lockstep.Engine;
using Lockstep.Models.Checking;
using Lockstep.Models.lib;
using Lockstep.Models.mm;
using Lockstep.Models.virt.kvm;

namespace Lockstep.Models.Scenarios;

/// <summary>The architecture a scenario's VMs run on: x86 (mmu_lock is an rwlock_t) or riscv (a spinlock_t).</summary>
public enum Arch { x86, riscv }

/// <summary>
/// A VMA of the VMM: [Start, Start + Pages), every page present (the VMM has touched its guest RAM). Shared: a
/// MAP_SHARED mapping (VM_SHARED), as vm_mmap makes for KVM's private memslots.
/// </summary>
public sealed record VmaSpec(ulong Start, ulong Pages, bool Anonymous = true, bool Shared = false);

/// <summary>A memslot: guest frames [BaseGfn, BaseGfn + Npages) backed by host VA Hva; Id is set for KVM's private memslots.</summary>
public sealed record MemslotSpec(long BaseGfn, long Npages, ulong Hva, int? Id = null);

/// <summary>
/// A VM on the VMM's mm: its memslots, the gfn→pfn caches (by host VA) active and valid at the start, and the gfns
/// each vCPU has faulted in and run the guest on before the start (their SPTEs exist, the vCPU's TLB caches them).
/// </summary>
public sealed record VmSpec(IReadOnlyList<MemslotSpec> Memslots, IReadOnlyList<ulong> Gpcs, IReadOnlyList<(int Vcpu, long Gfn)> Faulted);

/// <summary>A lib/test_hmm.c device mirroring [Start, Start + Pages) through an interval notifier.</summary>
public sealed record DmirrorSpec(ulong Start, ulong Pages);

/// <summary>
/// What a scenario starts from (KERNEL-FACTS §6.4): the VMM process "qemu" (pid 4992) with its VMAs, the VMs registered
/// on its mm (each a notifier subscriber), and other subscribers. Build one with <see cref="WorldSpec.Builder"/>.
/// </summary>
public sealed record WorldSpec(IReadOnlyList<VmaSpec> Vmas, IReadOnlyList<VmSpec> Vms, IReadOnlyList<DmirrorSpec> Dmirrors, Arch Arch)
{
    public static WorldBuilder Builder() => new();

    /// <summary>The world of the thread: one anonymous VMA of two pages, one VM with one memslot over it and a gpc on its second page.</summary>
    public static WorldSpec GuestRam { get; } = Builder()
        .Vma(0x1000, pages: 2)
        .Vm(vm => vm.Memslot(base_gfn: 0, npages: 2, hva: 0x1000).Gpc(0x1001))
        .Build();

    public WorldSpec On(Arch arch) => this with { Arch = arch };

    /// <summary>
    /// Builds the world inside a run, with the (patched) code of the run; VM i gets <paramref name="vcpus"/>[i] vCPUs
    /// (none past the list's end).
    /// </summary>
    public async SimTask<World> Create(Kernel.Kernel kernel, Mm mm_code, KvmMain kvm_code, IReadOnlyList<int> vcpus)
    {
        var allocator = new PageAllocator(mm_code);
        var vmas = Vmas.Select(v => new vm_area_struct(v.Start, v.Start + v.Pages, v.Shared ? VmFlags.VM_SHARED : VmFlags.None, v.Anonymous, allocator)).ToList();
        var mm = new mm_struct(mm_code, allocator, vmas);
        var vms = new List<Vm>();
        foreach (var spec in Vms)
        {
            var user = 0;
            var slots = spec.Memslots.Select(s => new kvm_memory_slot(s.Id ?? user++, s.BaseGfn, s.Npages, s.Hva)).ToList();
            var k = await kvm_code.kvm_create_vm(mm, slots, KVM_HAVE_MMU_RWLOCK: Arch != Arch.riscv);
            await mm_code.stale_mappings.add(p => StaleMappings.kvm_maps_page(k, p));   // the VM is a secondary MMU (S1)
            foreach (var uhva in spec.Gpcs)
            {
                var vma = mm.find_vma(uhva)!;
                await k.gpc_list.Add(new gfn_to_pfn_cache(kvm_code, uhva, await vma.ptep(uhva).Read()));
            }
            var cpus = new List<kvm_vcpu>();
            var ncpus = spec.Faulted.Select(f => f.Vcpu + 1).Append(vms.Count < vcpus.Count ? vcpus[vms.Count] : 0).Max();
            for (var i = 0; i < ncpus; i++)
            {
                var vcpu = await kvm_code.kvm_vm_ioctl_create_vcpu(k, i);
                await mm_code.stale_mappings.add(p => StaleMappings.kvm_vcpu_maps_page(vcpu, p));   // its TLB too (S1)
                cpus.Add(vcpu);
            }
            foreach (var (vcpu, gfn) in spec.Faulted)
            {
                var mapped = await kvm_code.mmu.kvm_tdp_page_fault(k, gfn);
                Sim.Assert(mapped, $"the world's fault of gfn 0x{gfn:x} mapped nothing");
                await kvm_code.mmu.vcpu_enter_guest(cpus[vcpu], gfn);
            }
            vms.Add(new Vm(k, slots, cpus));
        }
        var hmm = new TestHmm(mm_code);
        var dmirrors = new List<dmirror>();
        for (var i = 0; i < Dmirrors.Count; i++)
        {
            var d = await hmm.dmirror_fops_open(mm, Dmirrors[i].Start, Dmirrors[i].Pages, $"dmirror{i}");
            await mm_code.stale_mappings.add(d.maps);   // the device is a secondary MMU (S1)
            dmirrors.Add(d);
        }
        return new World
        {
            kernel = kernel, mm_code = mm_code, kvm_code = kvm_code, hmm = hmm, mm = mm,
            qemu = new task_struct(mm_code, "qemu", 4992, mm), vmas = vmas, vms = vms, dmirrors = dmirrors,
        };
    }
}

/// <summary>Declares a world; <see cref="Build"/> checks that it is consistent (one line naming the problem if not).</summary>
public sealed class WorldBuilder
{
    private readonly List<VmaSpec> _vmas = new();
    private readonly List<VmSpec> _vms = new();
    private readonly List<DmirrorSpec> _dmirrors = new();
    private Scenarios.Arch _arch = Scenarios.Arch.x86;

    public WorldBuilder Vma(ulong start, ulong pages, bool anonymous = true, bool shared = false)
    {
        _vmas.Add(new VmaSpec(start, pages, anonymous, shared));
        return this;
    }

    public WorldBuilder Vm(Action<VmBuilder> vm)
    {
        var b = new VmBuilder();
        vm(b);
        _vms.Add(new VmSpec(b.Memslots, b.Gpcs, b.FaultedGfns));
        return this;
    }

    public WorldBuilder Dmirror(ulong start, ulong pages)
    {
        _dmirrors.Add(new DmirrorSpec(start, pages));
        return this;
    }

    public WorldBuilder Arch(Scenarios.Arch arch)
    {
        _arch = arch;
        return this;
    }

    /// <exception cref="ArgumentException">The world is inconsistent.</exception>
    public WorldSpec Build()
    {
        if (_vmas.Count == 0) throw new ArgumentException("a world needs at least one VMA");
        foreach (var v in _vmas)
        {
            if (v.Pages == 0) throw new ArgumentException($"VMA at 0x{v.Start:x} has no pages");
            if (_vmas.FirstOrDefault(w => w != v && w.Start < v.Start + v.Pages && v.Start < w.Start + w.Pages) is { } other)
                throw new ArgumentException($"VMAs at 0x{v.Start:x} and 0x{other.Start:x} overlap");
        }
        bool Mapped(ulong start, ulong pages) => _vmas.Any(v => start >= v.Start && start + pages <= v.Start + v.Pages);
        for (var i = 0; i < _vms.Count; i++)
        {
            if (_vms[i].Memslots.Count == 0) throw new ArgumentException($"VM {i} has no memslot");
            foreach (var s in _vms[i].Memslots)
            {
                if (s.Npages <= 0 || !Mapped(s.Hva, (ulong)s.Npages))
                    throw new ArgumentException($"VM {i}: memslot at gfn 0x{s.BaseGfn:x} ({s.Npages} pages at hva 0x{s.Hva:x}) is not inside one VMA");
                if (_vms[i].Memslots.FirstOrDefault(t => t != s && t.BaseGfn < s.BaseGfn + s.Npages && s.BaseGfn < t.BaseGfn + t.Npages) is { } other)
                    throw new ArgumentException($"VM {i}: memslots at gfn 0x{s.BaseGfn:x} and 0x{other.BaseGfn:x} overlap");
            }
            foreach (var s in _vms[i].Memslots.Where(s => s.Id != null))
            {
                if (_arch != Scenarios.Arch.x86) throw new ArgumentException($"VM {i}: private memslot {s.Id} on {_arch}: only x86 has them");
                if (_vms[i].Memslots.Count(t => t.Id == s.Id) > 1) throw new ArgumentException($"VM {i}: private memslot {s.Id} declared twice");
            }
            foreach (var g in _vms[i].Gpcs)
                if (!Mapped(g, 1)) throw new ArgumentException($"VM {i}: gpc at hva 0x{g:x} is outside every VMA");
            foreach (var (vcpu, gfn) in _vms[i].Faulted)
            {
                if (vcpu < 0) throw new ArgumentException($"VM {i}: vCPU {vcpu} does not exist");
                if (!_vms[i].Memslots.Any(s => gfn >= s.BaseGfn && gfn < s.BaseGfn + s.Npages))
                    throw new ArgumentException($"VM {i}: faulted gfn 0x{gfn:x} is in no memslot");
            }
        }
        foreach (var d in _dmirrors)
            if (d.Pages == 0 || !Mapped(d.Start, d.Pages)) throw new ArgumentException($"dmirror over 0x{d.Start:x} ({d.Pages} pages) is not inside one VMA");
        return new WorldSpec(_vmas.ToList(), _vms.ToList(), _dmirrors.ToList(), _arch);
    }
}

public sealed class VmBuilder
{
    internal readonly List<MemslotSpec> Memslots = new();
    internal readonly List<ulong> Gpcs = new();
    internal readonly List<(int Vcpu, long Gfn)> FaultedGfns = new();

    public VmBuilder Memslot(long base_gfn, long npages, ulong hva)
    {
        Memslots.Add(new MemslotSpec(base_gfn, npages, hva));
        return this;
    }

    /// <summary>
    /// One of KVM's private memslots (x86: <see cref="KvmMain.APIC_ACCESS_PAGE_PRIVATE_MEMSLOT"/>,
    /// <see cref="KvmMain.IDENTITY_PAGETABLE_PRIVATE_MEMSLOT"/>, <see cref="KvmMain.TSS_PRIVATE_MEMSLOT"/>), as
    /// __x86_set_memory_region creates it over a MAP_SHARED anonymous VMA of its own.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="id"/> is not a private memslot.</exception>
    public VmBuilder PrivateMemslot(int id, long base_gfn, long npages, ulong hva)
    {
        if (id is not (KvmMain.APIC_ACCESS_PAGE_PRIVATE_MEMSLOT or KvmMain.IDENTITY_PAGETABLE_PRIVATE_MEMSLOT or KvmMain.TSS_PRIVATE_MEMSLOT))
            throw new ArgumentException($"memslot {id} is not one of KVM's private memslots");
        Memslots.Add(new MemslotSpec(base_gfn, npages, hva, id));
        return this;
    }

    /// <summary>A gfn→pfn cache on host VA <paramref name="uhva"/>, active and valid.</summary>
    public VmBuilder Gpc(ulong uhva)
    {
        Gpcs.Add(uhva);
        return this;
    }

    /// <summary>
    /// vCPU <paramref name="vcpu"/> has faulted <paramref name="gfns"/> in and run the guest on them before the scenario
    /// starts (the world runs the fault and the guest access): their SPTEs exist and its TLB caches them.
    /// </summary>
    public VmBuilder Faulted(int vcpu, params long[] gfns)
    {
        foreach (var gfn in gfns) FaultedGfns.Add((vcpu, gfn));
        return this;
    }
}

/// <summary>A VM of the world, its memslots (in declaration order; user slot ids 0, 1, ...) and its vCPUs.</summary>
public sealed record Vm(kvm kvm, IReadOnlyList<kvm_memory_slot> slots, IReadOnlyList<kvm_vcpu> vcpus);

/// <summary>The world of one execution, with the code it runs.</summary>
public sealed class World
{
    public required Kernel.Kernel kernel { get; init; }
    public required Mm mm_code { get; init; }
    public required KvmMain kvm_code { get; init; }
    public required TestHmm hmm { get; init; }
    public required mm_struct mm { get; init; }
    public required task_struct qemu { get; init; }
    public required IReadOnlyList<vm_area_struct> vmas { get; init; }
    public required IReadOnlyList<Vm> vms { get; init; }
    public required IReadOnlyList<dmirror> dmirrors { get; init; }

    /// <summary>The first VM (most scenarios have one).</summary>
    public kvm kvm => vms[0].kvm;

    /// <summary>The first VM's first memslot.</summary>
    public kvm_memory_slot slot => vms[0].slots[0];

    public vm_area_struct guest_ram => vmas[0];
}
