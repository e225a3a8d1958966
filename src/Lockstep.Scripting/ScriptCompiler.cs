using System.Collections.Immutable;
using System.Globalization;
using System.Runtime.CompilerServices;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Scripting;
using Microsoft.CodeAnalysis.Scripting;
using Microsoft.CodeAnalysis.Scripting.Hosting;

namespace Lockstep.Scripting;

/// <summary>
/// Compiles a .csx script to an assembly image. The only code that touches Roslyn: a cached script is loaded without
/// it, so the compiler's assemblies are not even loaded then.
/// </summary>
internal static class ScriptCompiler
{
    /// <summary>What every script imports: namespaces, and types whose static members it imports (a using static).</summary>
    public static readonly string[] Imports =
    {
        "System", "System.Linq", "System.Collections.Generic", "System.Collections.Immutable",
        "Lockstep.Engine", "Lockstep.Kernel", "Lockstep.Models", "Lockstep.Models.mm", "Lockstep.Models.virt.kvm",
        "Lockstep.Models.Proposals", "Lockstep.Models.Scenarios", "Lockstep.Models.arch.x86", "Lockstep.Models.lib",
        "Lockstep.Kernel.Api", "Lockstep.Kernel.Srcu", "Lockstep.Models.Scenarios.Tasks",
    };

    private static readonly DiagnosticDescriptor NoDirectives = new(
        "LS0001", "#r and #load are not supported", "{0} is not supported: a script is one file (give each file as its own --patch or --world, shared code as a .dll)",
        "Lockstep", DiagnosticSeverity.Error, isEnabledByDefault: true);

    /// <exception cref="ScriptCompilationException">The script has errors.</exception>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static byte[] Compile(string path, byte[] source)
    {
        var options = ScriptOptions.Default
            .WithFilePath(path)
            .AddReferences(LockstepAssemblies.All)
            .AddReferences(typeof(Enumerable).Assembly, typeof(ImmutableArray).Assembly)
            .WithImports(Imports)
            .WithOptimizationLevel(OptimizationLevel.Release);
        using var loader = new InteractiveAssemblyLoader();
        using var code = new MemoryStream(source, writable: false);
        var compilation = CSharpScript.Create(code, options, typeof(ScriptGlobals), loader).GetCompilation();
        // #r and #load would make the script depend on files that neither the cache key nor the model's fingerprint covers
        var directives = compilation.SyntaxTrees.Select(t => t.GetCompilationUnitRoot()).SelectMany(root =>
            root.GetReferenceDirectives().Select(d => Diagnostic.Create(NoDirectives, d.GetLocation(), "#r"))
                .Concat(root.GetLoadDirectives().Select(d => Diagnostic.Create(NoDirectives, d.GetLocation(), "#load"))))
            .ToList();
        if (directives.Count > 0) throw Failure(path, directives);
        using var image = new MemoryStream();
        var emitted = compilation.Emit(image);
        if (!emitted.Success) throw Failure(path, emitted.Diagnostics.Where(d => d.Severity >= DiagnosticSeverity.Warning));
        return image.ToArray();
    }

    private static ScriptCompilationException Failure(string path, IEnumerable<Diagnostic> diagnostics) => new(diagnostics
        .OrderBy(d => d.Location.SourceTree?.FilePath, StringComparer.Ordinal).ThenBy(d => d.Location.SourceSpan.Start)
        .Select(d => Format(path, d)));

    /// <summary>As a compiler prints it: "file(line,column): error CS0103: message".</summary>
    private static string Format(string path, Diagnostic diagnostic)
    {
        var span = diagnostic.Location.GetLineSpan();
        var where = diagnostic.Location.IsInSource ? $"{span.Path}({span.StartLinePosition.Line + 1},{span.StartLinePosition.Character + 1})" : path;
        var severity = diagnostic.Severity == DiagnosticSeverity.Error ? "error" : "warning";
        return $"{where}: {severity} {diagnostic.Id}: {diagnostic.GetMessage(CultureInfo.InvariantCulture)}";
    }
}
