using System.Text.Json;
using Lockstep.Cli;
using Lockstep.Cli.Commands;
using Lockstep.Models;

namespace Lockstep.Tests.Scripting;

/// <summary>--patch and --world end to end: lockstep's commands with user scripts, their selection and their errors (exit 2, one line).</summary>
public sealed class CliScriptingTests : CommandLineTest
{
    private string Write(string name, string text)
    {
        var path = Path.Combine(_directory, name);
        File.WriteAllText(path, text);
        return path;
    }

    private static void FailsWithOneLine(string line, params string[] args)
    {
        var (exit, _, error) = Run(args);
        Assert.Equal(2, exit);
        Assert.Equal(line + Environment.NewLine, error);
    }

    [Fact]
    public void ListShowsAScriptedProposalWithItsFileAndHash()
    {
        var path = Write("toy.csx", """Register(new Proposal("toy", "a toy", "nowhere"));""");
        var (exit, output, error) = Run("list", "--patch", path);
        Assert.Equal((0, ""), (exit, error));
        var hash = Origin.OfFile(path, File.ReadAllBytes(path)).Hash;
        Assert.Contains($"  toy                          a toy  [nowhere]  (from toy.csx ({hash}))\n", output.ReplaceLineEndings("\n"));
        Assert.Contains("  mainline ", output);
    }

    [Fact]
    public void CompileErrorsArePrintedAsTheCompilerPrintsThem()
    {
        var path = Write("x.csx", "int n = \"one\"\nRegister(q);\n");
        var (exit, _, error) = Run("list", "--patch", path);
        Assert.Equal(2, exit);
        Assert.Collection(error.ReplaceLineEndings("\n").TrimEnd('\n').Split('\n'),
            l => Assert.Equal($"{path}(1,9): error CS0029: Cannot implicitly convert type 'string' to 'int'", l),
            l => Assert.Equal($"{path}(1,14): error CS1002: ; expected", l),
            l => Assert.Equal($"{path}(2,10): error CS0103: The name 'q' does not exist in the current context", l));
    }

    [Fact]
    public void BadUserFilesAreOneLineAndExitTwo()
    {
        var throws = Write("throws.csx", "throw new InvalidOperationException(\"no toy today\");");
        FailsWithOneLine($"lockstep: {throws}: registering threw InvalidOperationException: no toy today", "list", "--patch", throws);
        var nothing = Write("nothing.csx", "var n = 1;");
        FailsWithOneLine($"lockstep: {nothing} registers no proposal (a --patch file calls Register(new Proposal(...)))", "check", "--patch", nothing);
        FailsWithOneLine($"lockstep: {nothing} registers no scenario (a --world file calls Register(new Scenario(...)))", "check", "--world", nothing);
        FailsWithOneLine($"lockstep: no such file 'missing.csx'", "list", "--patch", "missing.csx");
        FailsWithOneLine($"lockstep: unknown extension of 'fix.patch' (expected .csx or .dll)", "list", "--patch", "fix.patch");
    }

    [Fact]
    public void PatchesAndWorldsSelectOnlyTheirOwnUnlessNamed()
    {
        var toys = Write("toys.csx", """
            Register(new Proposal("toy-1", "a toy", "nowhere"));
            Register(new Proposal("toy-2", "another toy", "nowhere"));
            """);
        var world = Write("world.csx", """
            Register(new Scenario("user-munmap-vs-fault", "qemu munmaps guest RAM while nothing else runs",
                WorldSpec.GuestRam, [Qemu(w => w.mm_code.do_munmap(w.mm, 0x1000, 0x1002), "L5")]));
            """);
        ModelOptions Select(params string[] args) => ModelOptions.Select(Options.Parse(args, new HashSet<string>(ModelOptions.Names) { "proposal", "scenario" }, new HashSet<string>()));

        var model = Select("--patch", toys, "--world", world);
        Assert.Equal(new[] { "toy-1", "toy-2" }, model.Proposals.Select(p => p.Id));
        Assert.Equal("user-munmap-vs-fault", Assert.Single(model.Scenarios).Id);
        model = Select("--patch", toys, "--proposal", "mainline,toy-2");
        Assert.Equal(new[] { "mainline", "toy-2" }, model.Proposals.Select(p => p.Id));
        Assert.Equal(model.Registry.Scenarios, model.Scenarios);
        model = Select($"--world={world}");
        Assert.Equal(model.Registry.Proposals, model.Proposals);
        Assert.Contains(model.Proposals, p => p.Id == "mainline");
    }

    [Fact]
    public void ATokenOfAScriptedPatchReplaysOnlyWithThatPatch()
    {
        var patch = Write("raw.csx", """
            sealed class RawLock : KvmMain
            {
                public RawLock(Mm mm) : base(mm) { }
                public override LockType kvm_mn_invalidate_lock => LockType.raw_spinlock_t;
            }
            Register(new Proposal("user-raw", "raw", "test") { Kvm = m => new RawLock(m) });
            """);
        var json = Path.Combine(_directory, "check.json");
        var (exit, _, error) = Run("check", "--patch", patch, "--config", "rt", "--scenario", "oom-reap-vs-fault", "--property", "S2", "--json", json, "--quiet");
        Assert.Equal((0, ""), (exit, error));
        using var results = JsonDocument.Parse(File.ReadAllText(json));
        var cell = Assert.Single(results.RootElement.GetProperty("results").EnumerateArray(), c => c.GetProperty("proposal").GetString() == "user-raw");
        Assert.Equal("violated", cell.GetProperty("verdict").GetString());
        var token = cell.GetProperty("findings")[0].GetProperty("token").GetString()!;

        var explained = Run("explain", token, "--patch", patch);
        Assert.Equal(0, explained.Exit);
        Assert.Contains("gfn_to_pfn_cache_invalidate_start", explained.Out);
        FailsWithOneLine("lockstep: the token names proposal 'user-raw', which is not loaded (a user patch? give the same --patch files)", "explain", token);
    }

    [Fact]
    public void APatchThatThrowsWhileExploringIsAModelCrashOfItsCellsWithAToken()
    {
        var patch = Write("crash.csx", """
            sealed class Crash : KvmMain
            {
                public Crash(Mm mm) : base(mm) { }
                public override SimTask<int> kvm_mmu_notifier_invalidate_range_start(mmu_notifier mn, mmu_notifier_range range)
                    => throw new InvalidOperationException("Sequence contains no elements");
            }
            Register(new Proposal("crash", "start throws", "test") { Kvm = m => new Crash(m) });
            """);
        var (exit, output, error) = Run("check", "--patch", patch, "--config", "default", "--scenario", "munmap-vs-fault");
        Assert.Equal(3, exit);
        Assert.Matches(@"(?m)^crash default +(\?   ){12} ", output);
        var line = Assert.Single(error.ReplaceLineEndings("\n").TrimEnd('\n').Split('\n'), l => l.StartsWith("lockstep: model error"));
        Assert.Matches(@"^lockstep: model error in crash/default/munmap-vs-fault: model code threw InvalidOperationException in thread 'qemu/4992': Sequence contains no elements \(token crash/default/munmap-vs-fault/[0-9a-f]{8}/s1\.\S+\)$", line);
    }

    [Fact]
    public void APatchThatLoopsWithoutASchedulingPointIsAbandonedAsAModelError()
    {
        var release = Path.Combine(_directory, "release");
        var patch = Write("loops.csx", $$"""
            sealed class Loops : KvmMain
            {
                public Loops(Mm mm) : base(mm) { }
                public override SimTask<int> kvm_mmu_notifier_invalidate_range_start(mmu_notifier mn, mmu_notifier_range range)
                {
                    while (!System.IO.File.Exists(@"{{release}}")) System.Threading.Thread.Sleep(10);
                    return base.kvm_mmu_notifier_invalidate_range_start(mn, range);
                }
            }
            Register(new Proposal("loops", "start never returns", "test") { Kvm = m => new Loops(m) });
            """);
        try
        {
            var (exit, output, error) = Run("check", "--patch", patch, "--proposal", "loops,mainline", "--config", "default", "--scenario", "munmap-vs-fault", "--stall-seconds", "2");
            Assert.Equal(3, exit);
            Assert.Matches(@"(?m)^loops default +(\?   ){12} ", output);
            Assert.Matches(@"(?m)^mainline default +(ok  ){12} ", output);
            Assert.Contains("lockstep: model error in loops/default/munmap-vs-fault: an execution ran 2 s without reaching a scheduling point", error);
        }
        finally
        {
            File.WriteAllText(release, "");
        }
    }

    [Fact]
    public void APatchCanAddACheckOfItsOwnAndMapItsKindToAProperty()
    {
        const string check = """
            sealed class Checked : KvmMain
            {
                public Checked(Mm mm) : base(mm) { }
                public override async SimTask kvm_mmu_notifier_invalidate_range_end(mmu_notifier mn, mmu_notifier_range range)
                {
                    await base.kvm_mmu_notifier_invalidate_range_end(mn, range);
                    Sim.Report(KernelLog.Warning("end-seen", "WARNING: an end was delivered", "end"));
                }
            }
            Register(new Proposal("checked", "a check of its own", "test") { Kvm = m => new Checked(m) });
            """;
        var mapped = Write("mapped.csx", check + "\nRegisterWarning(\"end-seen\", \"S6\");\n");
        var (exit, output, error) = Run("check", "--patch", mapped, "--config", "default", "--scenario", "munmap-vs-fault");
        Assert.Equal(0, exit);
        Assert.Matches(@"(?m)^checked default +(ok +){5}XX\+1 ", output);   // a finding mainline does not have
        Assert.Contains("WARNING: an end was delivered", output);

        var unmapped = Write("unmapped.csx", check);
        (exit, _, error) = Run("check", "--patch", unmapped, "--config", "default", "--scenario", "munmap-vs-fault");
        Assert.Equal(3, exit);
        Assert.Contains("lockstep: model error in checked/default/munmap-vs-fault: report kind 'end-seen' maps to no property", error);
    }
}
