using Lockstep.Engine;
using Lockstep.Kernel;
using Lockstep.Models;
using Lockstep.Models.Proposals;
using Lockstep.Scripting;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace Lockstep.Tests.Scripting;

/// <summary>.csx scripts and .dll extensions loaded into a registry: what they register, its origin, the compile cache and the errors.</summary>
public class ExtensionLoaderTests
{
    private const string Toy = """Register(new Proposal("toy", "a toy", "nowhere"));""";

    private readonly string _directory = Directory.CreateTempSubdirectory("lockstep-scripting-").FullName;

    private string Cache => Path.Combine(_directory, "cache");

    private string Write(string name, string text)
    {
        var path = Path.Combine(_directory, name);
        File.WriteAllText(path, text);
        return path;
    }

    private string Fails(string path) => Assert.ThrowsAny<ExtensionException>(() => ExtensionLoader.Load(Registry.WithBuiltIns(), path, Cache)).Message;

    [Fact]
    public void AScriptRegistersAProposalAttributedToItsFile()
    {
        var path = Write("toy.csx", Toy);
        var registry = Registry.WithBuiltIns();
        var result = ExtensionLoader.Load(registry, path, Cache);
        Assert.True(result.Compiled);
        Assert.Equal(Origin.OfFile(path, File.ReadAllBytes(path)), result.Origin);
        var toy = Assert.Single(registry.ProposalsFrom(result.Origin));
        Assert.Equal(("toy", "a toy", "nowhere"), (toy.Id, toy.Title, toy.Source));
        Assert.Equal(Origin.BuiltIn, registry.OriginOf(registry.Proposal("mainline")));
    }

    [Fact]
    public void TheSecondLoadRunsTheCachedAssemblyAndAnEditedScriptIsCompiledAgain()
    {
        var path = Write("toy.csx", Toy);
        Assert.True(ExtensionLoader.Load(Registry.WithBuiltIns(), path, Cache).Compiled);
        Assert.Matches(@"[/\\][0-9a-f]{64}\.dll$", Assert.Single(Directory.GetFiles(Cache)));

        var registry = Registry.WithBuiltIns();
        Assert.False(ExtensionLoader.Load(registry, path, Cache).Compiled);
        Assert.Equal("a toy", registry.Proposal("toy").Title);

        File.WriteAllText(path, Toy.Replace("a toy", "an edited toy"));
        registry = Registry.WithBuiltIns();
        Assert.True(ExtensionLoader.Load(registry, path, Cache).Compiled);
        Assert.Equal("an edited toy", registry.Proposal("toy").Title);
        Assert.Equal(2, Directory.GetFiles(Cache).Length);
    }

    [Fact]
    public void ACacheThatCannotBeWrittenOnlyCostsACompile()
    {
        var path = Write("toy.csx", Toy);
        var unwritable = Path.Combine(Write("a-file", ""), "cache");
        foreach (var _ in new[] { 1, 2 })
        {
            var registry = Registry.WithBuiltIns();
            Assert.True(ExtensionLoader.Load(registry, path, unwritable).Compiled);
            Assert.Equal("a toy", registry.Proposal("toy").Title);
        }
        Assert.True(ExtensionLoader.Load(Registry.WithBuiltIns(), path, cacheDirectory: null).Compiled);
    }

    [Fact]
    public void AScriptedPatchChecksLikeTheBuiltInItCopies()
    {
        // KvmMain, Mm, LockType, KernelLock by the default namespaces; lockdep_assert_held by using static Lockstep.Kernel.Api
        var path = Write("raw.csx", """
            sealed class RawLock : KvmMain
            {
                public RawLock(Mm mm) : base(mm) { }
                public override LockType kvm_mn_invalidate_lock => LockType.raw_spinlock_t;
                public static void Held(KernelLock l) => lockdep_assert_held(l);
            }
            Register(new Proposal("user-raw", "raw", "test") { Kvm = m => new RawLock(m) });
            """);
        var registry = Registry.WithBuiltIns();
        ExtensionLoader.Load(registry, path, Cache);
        ScenarioRun Run(string proposal) => Suite.Run(registry, registry.Proposal(proposal), KernelConfig.Rt, registry.Scenario("oom-reap-vs-fault"),
            new DporStrategy(), new ExplorationOptions { MaxExecutions = 10_000 });
        var (user, builtIn) = (Run("user-raw"), Run("raw-mn-invalidate-lock"));
        Assert.Equal(builtIn.Exploration.Executions, user.Exploration.Executions);
        Assert.Equal(builtIn.Findings.Select(f => (f.Property, f.Signature)), user.Findings.Select(f => (f.Property, f.Signature)));
        var first = user.Findings.First(f => f.Property == "S2");
        Assert.Equal("might-sleep:rt_spin_lock(&kvm->gpc_lock) in gfn_to_pfn_cache_invalidate_start", first.Signature);
        Assert.Contains("rt_spin_lock\n gfn_to_pfn_cache_invalidate_start", ((KernelReport)first.Violation).Text);
    }

    [Fact]
    public void ASyntaxErrorIsReportedAsTheCompilerPrintsIt()
    {
        // a script may end in an expression without ';' (its value), not a statement in the middle
        var message = Fails(Write("x.csx", "var n = 1\n" + Toy));
        Assert.Matches(@"^.*x\.csx\(1,\d+\): error CS1002: ; expected$", Assert.Single(message.Split('\n')));
    }

    [Fact]
    public void TypeErrorsAreReportedOneLineEachWithTheirPositions()
    {
        var path = Write("x.csx", "var p = new Proposal(\"toy\", \"a toy\", \"nowhere\");\nint n = \"one\";\n    Register(q);\n");
        var lines = Fails(path).Split('\n');
        Assert.Equal(new[] { $"{path}(2,9): error CS0029: Cannot implicitly convert type 'string' to 'int'", $"{path}(3,14): error CS0103: The name 'q' does not exist in the current context" }, lines);
    }

    [Fact]
    public void ReferenceAndLoadDirectivesAreRefused()
    {
        var lines = Fails(Write("x.csx", "#r \"System.Xml\"\n#load \"other.csx\"\n" + Toy)).Split('\n');
        Assert.Collection(lines,
            l => Assert.Matches(@"x\.csx\(1,1\): error LS0001: #r is not supported", l),
            l => Assert.Matches(@"x\.csx\(2,1\): error LS0001: #load is not supported", l));
    }

    [Fact]
    public void TopLevelCodeThatThrowsIsOneLineNamingTheFile()
    {
        var path = Write("x.csx", "throw new InvalidOperationException(\"no toy today\");");
        Assert.Equal($"{path}: registering threw InvalidOperationException: no toy today", Fails(path));
    }

    [Fact]
    public void ADuplicateIdIsOneLineNamingBothOrigins()
    {
        var path = Write("x.csx", """Register(new Proposal("mainline", "again", "nowhere"));""");
        Assert.Matches(@"x\.csx: registering threw ArgumentException: proposal 'mainline' is registered twice \(built-in and x\.csx \([0-9a-f]{16}\)\)$", Fails(path));
    }

    [Fact]
    public void ADllRegistersItsPublicExtensions()
    {
        var path = Path.Combine(_directory, "toy.dll");
        File.WriteAllBytes(path, Compile("""
            using Lockstep.Models;
            using Lockstep.Models.Proposals;
            public sealed class Toys : IExtension
            {
                public void Register(Registry registry) => registry.Register(new Proposal("dll-toy", "a toy", "a dll"));
            }
            public abstract class NotAnExtension : IExtension { public abstract void Register(Registry registry); }
            """));
        var registry = Registry.WithBuiltIns();
        var result = ExtensionLoader.Load(registry, path, Cache);
        Assert.False(result.Compiled);
        Assert.Equal(Origin.OfFile(path, File.ReadAllBytes(path)), result.Origin);
        Assert.Equal("dll-toy", Assert.Single(registry.ProposalsFrom(result.Origin)).Id);
    }

    [Fact]
    public void ADllWithoutExtensionsOrNotAnAssemblyIsOneLine()
    {
        var empty = Path.Combine(_directory, "empty.dll");
        File.WriteAllBytes(empty, Compile("public sealed class Nothing { }"));
        Assert.Equal($"{empty}: no public IExtension type (with a parameterless constructor)", Fails(empty));
        var text = Write("text.dll", "not an assembly");
        Assert.Equal($"{text}: not a .NET assembly", Fails(text));
    }

    [Fact]
    public void AMissingFileOrAnUnknownKindIsOneLine()
    {
        Assert.Equal($"no such file '{Path.Combine(_directory, "nothing.csx")}'", Fails(Path.Combine(_directory, "nothing.csx")));
        Assert.Equal("unknown extension of 'x.txt' (expected .csx or .dll)", Fails("x.txt"));
    }

    private static byte[] Compile(string code)
    {
        var references = new[] { typeof(object).Assembly, typeof(Registry).Assembly, System.Reflection.Assembly.Load("System.Runtime") }
            .Select(a => MetadataReference.CreateFromFile(a.Location));
        var compilation = CSharpCompilation.Create("extension", new[] { CSharpSyntaxTree.ParseText(code) }, references,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary));
        using var image = new MemoryStream();
        var emitted = compilation.Emit(image);
        Assert.True(emitted.Success, string.Join("\n", emitted.Diagnostics));
        return image.ToArray();
    }
}
