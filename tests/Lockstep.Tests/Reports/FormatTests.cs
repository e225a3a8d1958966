using System.Text.Json;
using Lockstep.Engine;
using Lockstep.Kernel;
using Lockstep.Reporting;

namespace Lockstep.Tests.Reporting;

/// <summary>DOT, SARIF and LKML output of a kernel-layer model, against golden files, plus the shape each format promises.</summary>
public class FormatTests
{
    [Fact]
    public void LockdepGraphAsDotHighlightsTheCycle()
    {
        var (kernel, result) = SyntheticRun.Explore(KernelConfig.Default);
        var circular = result.Violations.OfType<KernelReport>().Single(v => v.Kind == "lockdep-circular");
        Assert.Equal(new[] { "oom_lock", "&kvm->slots_lock", "oom_lock" }, circular.LockChain);
        var graph = LockGraph.Build("synthetic default · abba", new[] { ("abba", kernel.Lockdep) }, result.Violations.OfType<KernelReport>());
        var dot = LockGraph.Dot(new[] { graph });
        Assert.StartsWith("// lockdep dependency graph", dot);
        Assert.Contains("digraph lockdep {", dot);
        // the recorded dependency slots_lock -> oom_lock (qemu) is red; the refused oom_lock -> slots_lock is dashed red
        Assert.Matches(@"n\d -> n\d \[label=""EN"", tooltip=""first recorded in kvm_set_memslot \[abba\]"", color=""#c62828""", dot);
        Assert.Matches(@"n\d -> n\d \[label=""new"", style=dashed, color=""#c62828""", dot);
        Golden.Check("synthetic-default.dot", dot);
    }

    [Fact]
    public void RecursiveLockingIsASelfEdge()
    {
        static Func<SimTask> Model(Lockstep.Kernel.Kernel k) => k.Boot(async () =>
        {
            var srcu = new srcu_struct(k, "srcu");
            var t = k.kthread_run(async () =>
            {
                int id;
                using (KernelFunction.Enter("__mmu_notifier_oom_enter")) id = await Srcu.srcu_read_lock(srcu);
                using (KernelFunction.Enter("mmu_notifier_unregister")) await Srcu.synchronize_srcu(srcu);
                await Srcu.srcu_read_unlock(srcu, id);
            }, "oom_killer", 4000);
            await t.Exited!.Value.Join();
        });
        var kernel = new Lockstep.Kernel.Kernel(KernelConfig.Default);
        var result = Explorer.Explore(Model(kernel), new DporStrategy(), new ExplorationOptions { StopOnFirstViolation = false });
        var recursive = result.Violations.OfType<KernelReport>().Single(v => v.Kind == "lockdep-recursive");
        Assert.Equal(new[] { "srcu", "srcu" }, recursive.LockChain);
        var dot = LockGraph.Dot(new[] { LockGraph.Build("recursive", new[] { ("r", kernel.Lockdep) }, new[] { recursive }) });
        Assert.Matches(@"n0 -> n0 \[label=""recursive"", style=dashed, color=""#c62828""", dot);
        Assert.Contains("n0 [label=\"srcu\", color=\"#c62828\"", dot);
    }

    [Fact]
    public void SarifHasTheSchemaShapeAndOneResultPerFinding()
    {
        var (results, traces) = SyntheticRun.Check(KernelConfig.Default);
        var sarif = Sarif.Render(results, Sarif.FromTraces(traces), "0.0.0-test");
        Golden.Check("synthetic-default.sarif", sarif);

        using var doc = JsonDocument.Parse(sarif);
        var root = doc.RootElement;
        Assert.Equal("2.1.0", root.GetProperty("version").GetString());
        Assert.Equal(Sarif.SchemaUri, root.GetProperty("$schema").GetString());
        var run = Assert.Single(root.GetProperty("runs").EnumerateArray());
        var driver = run.GetProperty("tool").GetProperty("driver");
        Assert.Equal("lockstep", driver.GetProperty("name").GetString());
        var ruleIds = driver.GetProperty("rules").EnumerateArray().Select(r => r.GetProperty("id").GetString()).ToList();
        Assert.Equal(Lockstep.Models.Properties.Ids, ruleIds.Select(r => r!).ToList());
        var res = run.GetProperty("results").EnumerateArray().ToList();
        Assert.Equal(results.Cells.Sum(c => c.Findings.Count), res.Count);
        Assert.NotEmpty(res);
        foreach (var r in res)
        {
            var ruleId = r.GetProperty("ruleId").GetString()!;
            Assert.Contains(ruleId, ruleIds);
            Assert.Equal(ruleIds.IndexOf(ruleId), r.GetProperty("ruleIndex").GetInt32());
            Assert.False(string.IsNullOrEmpty(r.GetProperty("message").GetProperty("text").GetString()));
            Assert.Contains(r.GetProperty("level").GetString(), new[] { "none", "note", "warning", "error" });
            var location = Assert.Single(r.GetProperty("locations").EnumerateArray());
            var uri = location.GetProperty("physicalLocation").GetProperty("artifactLocation").GetProperty("uri").GetString()!;
            Assert.False(Path.IsPathRooted(uri));
            Assert.Equal("function", Assert.Single(location.GetProperty("logicalLocations").EnumerateArray()).GetProperty("kind").GetString());
            Assert.StartsWith("synthetic/default/abba/s1.", r.GetProperty("properties").GetProperty("token").GetString());
        }
        // S2: mutex_lock in kvm_mmu_notifier_invalidate_range_start under non_block_start (virt/kvm/kvm_main.c in the model)
        var s2 = res.Single(r => r.GetProperty("ruleId").GetString() == "S2");
        Assert.StartsWith("BUG: sleeping function called from invalid context", s2.GetProperty("message").GetProperty("text").GetString());
        var loc = s2.GetProperty("locations")[0];
        Assert.Equal("virt/kvm/kvm_main.c", loc.GetProperty("physicalLocation").GetProperty("artifactLocation").GetProperty("uri").GetString());
        Assert.Equal("kvm_mmu_notifier_invalidate_range_start", loc.GetProperty("logicalLocations")[0].GetProperty("name").GetString());
    }

    [Fact]
    public void SarifFilesAReportWithoutAFunctionUnderItsPropertysFile()
    {
        var finding = new CellFinding("s", "left-open:count in swapper", "WARNING: left open", "report", "p/default/s/s1.AA", 1, "dpor", null);
        var cell = new Cell("p", "default", "L4", "violated", 1, true, [finding], [], []);
        var sarif = Sarif.Render(new CheckResults(new[] { cell }, new[] { "L4" }, null, TimeSpan.Zero), (_, _) => (null, null), "0");
        using var doc = JsonDocument.Parse(sarif);
        var location = doc.RootElement.GetProperty("runs")[0].GetProperty("results")[0].GetProperty("locations")[0];
        Assert.Equal("virt/kvm/kvm_main.c", location.GetProperty("physicalLocation").GetProperty("artifactLocation").GetProperty("uri").GetString());
        Assert.False(location.TryGetProperty("logicalLocations", out _));
        Assert.Contains("the file the property is about", location.GetProperty("message").GetProperty("text").GetString());
    }

    [Fact]
    public void LkmlTextHasTheReportAndACpuTable()
    {
        var (_, result) = SyntheticRun.Explore(KernelConfig.Default);
        var circular = result.Violations.OfType<KernelReport>().Single(v => v.Kind == "lockdep-circular");
        var trace = SyntheticRun.Explain(KernelConfig.Default, circular);
        var text = Lkml.Render(trace);
        Assert.Contains("WARNING: possible circular locking dependency detected", text);
        Assert.Matches(@"\n {7}CPU0 +CPU1\n {7}---- +----\n", text);
        Assert.Matches(@"mutex_lock\(&kvm->slots_lock\);   <-- (S2,)?S3\n", text);
        Assert.DoesNotContain("\t", text);
        Golden.Check("synthetic-default-circular.lkml.txt", text);

        var deadlock = result.Violations.OfType<DeadlockViolation>().First();
        var hung = Lkml.Render(SyntheticRun.Explain(KernelConfig.Default, deadlock));
        File.WriteAllText(Path.Combine(Path.GetTempPath(), "lockstep-deadlock.lkml.txt"), hung);
        Assert.Contains("INFO: task ", hung);
        Golden.Check("synthetic-default-deadlock.lkml.txt", hung);
    }
}
