using System.Reflection;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using System.Text.RegularExpressions;

namespace Lockstep.Reporting;

/// <summary>
/// Which kernel source file a modelled function belongs to. The models mirror the kernel tree
/// (src/Lockstep.Models/mm/MmuNotifier.cs models mm/mmu_notifier.c), so the model's own debug information says where a
/// function is defined; names the models do not define as methods fall back to the kernel's naming conventions.
/// </summary>
public static class KernelSources
{
    /// <summary>Model source file (under src/) to the kernel file it models.</summary>
    private static readonly Dictionary<string, string> ModelFiles = new(StringComparer.Ordinal)
    {
        ["Lockstep.Models/mm/MmuNotifier.cs"] = "mm/mmu_notifier.c",
        ["Lockstep.Models/include/linux/MmuNotifier.cs"] = "include/linux/mmu_notifier.h",
        ["Lockstep.Models/kernel/Fork.cs"] = "kernel/fork.c",
        ["Lockstep.Models/lib/TestHmm.cs"] = "lib/test_hmm.c",
        ["Lockstep.Models/virt/kvm/KvmMm.cs"] = "virt/kvm/kvm_mm.h",
        ["Lockstep.Models/mm/OomKill.cs"] = "mm/oom_kill.c",
        ["Lockstep.Models/mm/Mmap.cs"] = "mm/mmap.c",
        ["Lockstep.Models/mm/MmTypes.cs"] = "include/linux/mm_types.h",
        ["Lockstep.Models/virt/kvm/KvmMain.cs"] = "virt/kvm/kvm_main.c",
        ["Lockstep.Models/virt/kvm/PfnCache.cs"] = "virt/kvm/pfncache.c",
        ["Lockstep.Models/virt/kvm/KvmHost.cs"] = "include/linux/kvm_host.h",
        ["Lockstep.Models/arch/x86/kvm/Mmu.cs"] = "arch/x86/kvm/mmu/mmu.c",
        ["Lockstep.Kernel/rcu/Srcu.cs"] = "kernel/rcu/srcutree.c",
        ["Lockstep.Kernel/sched/Wait.cs"] = "kernel/workqueue.c",
    };

    /// <summary>Functions the models name explicitly, and the kernel's conventions for the rest (first match wins).</summary>
    private static readonly (Regex Name, string File)[] Conventions =
    {
        (new Regex(@"^(do_send_sig_info|send_sig)"), "kernel/signal.c"),
        (new Regex(@"^process_one_work$|workqueue|^flush_work"), "kernel/workqueue.c"),
        (new Regex(@"^synchronize_rcu|^call_rcu"), "kernel/rcu/tree.c"),
        (new Regex(@"srcu"), "kernel/rcu/srcutree.c"),
        (new Regex(@"^(kvm_gpc_|gfn_to_pfn_cache_|gpc_)"), "virt/kvm/pfncache.c"),
        (new Regex(@"^kvm_(tdp_|mmu_page_fault|unmap_gfn_range|zap_|arch_mmu_)|^(direct_page_fault|is_page_fault_stale)"), "arch/x86/kvm/mmu/mmu.c"),
        (new Regex(@"^kvm_|^hva_to_pfn"), "virt/kvm/kvm_main.c"),
        (new Regex(@"mmu_notifier|^mn_"), "mm/mmu_notifier.c"),
        (new Regex(@"oom"), "mm/oom_kill.c"),
        (new Regex(@"^(mmput|exit_mmap|do_munmap|do_vmi_munmap|unmap_|tlb_|vms_)"), "mm/mmap.c"),
        (new Regex(@"^(mmdrop|mmgrab|__mmdrop)"), "kernel/fork.c"),
    };

    private static readonly Lazy<Dictionary<string, string>> Index = new(BuildIndex);

    /// <summary>The kernel file of <paramref name="function"/>, or null if neither the models nor the conventions place it.</summary>
    public static string? FileOf(string function)
    {
        if (Index.Value.TryGetValue(function, out var file)) return file;
        foreach (var (name, f) in Conventions)
            if (name.IsMatch(function)) return f;
        return null;
    }

    /// <summary>
    /// Where a report points: its innermost modelled function (the last of <paramref name="stack"/>) and the file of the
    /// innermost function that has one.
    /// </summary>
    public static (string? Function, string? File) Locate(IReadOnlyList<string> stack)
    {
        if (stack.Count == 0) return (null, null);
        for (var i = stack.Count - 1; i >= 0; i--)
            if (FileOf(stack[i]) is { } file) return (stack[^1], file);
        return (stack[^1], null);
    }

    private static Dictionary<string, string> BuildIndex()
    {
        var index = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var asm in new[] { typeof(Lockstep.Models.Suite).Assembly, typeof(Lockstep.Kernel.Kernel).Assembly })
        {
            try
            {
                AddAssembly(asm, index);
            }
            catch (Exception e) when (e is IOException or BadImageFormatException or UnauthorizedAccessException or InvalidOperationException)
            {
                // no usable debug information: the conventions alone place functions
            }
        }
        return index;
    }

    /// <summary>Reads the portable PDB next to <paramref name="asm"/>: every method's (or async state machine's) source document.</summary>
    private static void AddAssembly(Assembly asm, Dictionary<string, string> index)
    {
        if (string.IsNullOrEmpty(asm.Location)) return;
        var pdbPath = Path.ChangeExtension(asm.Location, ".pdb");
        if (!File.Exists(pdbPath)) return;
        using var peStream = File.OpenRead(asm.Location);
        using var pe = new PEReader(peStream);
        var md = pe.GetMetadataReader();
        using var pdbStream = File.OpenRead(pdbPath);
        using var provider = MetadataReaderProvider.FromPortablePdbStream(pdbStream);
        var pdb = provider.GetMetadataReader();
        foreach (var handle in md.MethodDefinitions)
        {
            var def = md.GetMethodDefinition(handle);
            var name = md.GetString(def.Name);
            var typeName = md.GetString(md.GetTypeDefinition(def.GetDeclaringType()).Name);
            if (name == "MoveNext" && typeName.StartsWith('<') && typeName.IndexOf(">d__", StringComparison.Ordinal) > 1)
                name = typeName[1..typeName.IndexOf('>')];   // an async method's body lives in its state machine
            else if (name.Contains('<') || name.Contains('.')) continue;   // lambdas, accessors of explicit interfaces, constructors
            var info = pdb.GetMethodDebugInformation(handle.ToDebugInformationHandle());
            var document = info.Document;
            if (document.IsNil)
                foreach (var sp in info.GetSequencePoints()) { document = sp.Document; break; }
            if (document.IsNil) continue;
            var path = pdb.GetString(pdb.GetDocument(document).Name).Replace('\\', '/');
            var file = KernelFileOf(path);
            if (file == null) continue;
            index.TryAdd(name, file);   // proposals (src/Lockstep.Models/Proposals) map to no file: an override does not move a function
        }
    }

    private static string? KernelFileOf(string sourcePath)
    {
        foreach (var (suffix, file) in ModelFiles)
            if (sourcePath.EndsWith("/" + suffix, StringComparison.Ordinal)) return file;
        // a model file added later: its folder and the snake_case of its name (mm/Memory.cs is mm/memory.c)
        var at = sourcePath.LastIndexOf("/Lockstep.Models/", StringComparison.Ordinal);
        if (at < 0) return null;
        var rel = sourcePath[(at + "/Lockstep.Models/".Length)..];
        if (!(rel.StartsWith("mm/", StringComparison.Ordinal) || rel.StartsWith("virt/", StringComparison.Ordinal)
              || rel.StartsWith("arch/", StringComparison.Ordinal) || rel.StartsWith("kernel/", StringComparison.Ordinal))) return null;
        var dir = Path.GetDirectoryName(rel)!.Replace('\\', '/');
        var stem = Regex.Replace(Path.GetFileNameWithoutExtension(rel), "(?<=[a-z0-9])([A-Z])", "_$1").ToLowerInvariant();
        return $"{dir}/{stem}.c";
    }
}
