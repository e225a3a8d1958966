using System.Collections.Immutable;
using System.Reflection;
using System.Runtime.CompilerServices;
using Lockstep.Engine;
using Lockstep.Kernel;
using Lockstep.Models;

namespace Lockstep.Tests.Checking;

/// <summary>
/// Soundness by construction (issue 11): a model type keeps no plain mutable state that two simulated tasks could
/// touch without the explorer seeing it. Every instance field of the kernel-model namespaces is readonly and holds no
/// mutable BCL collection (nor an array); mutable state is a <see cref="Shared{T}"/> or <see cref="SharedList{T}"/>
/// (engine-visible) or a <see cref="Guarded{T}"/> (each access checks its lock). The only exception is a field marked
/// <see cref="PerTaskAttribute"/>, whose type no model type stores in a field (it lives on one task's stack).
/// </summary>
public class SharedStateTests
{
    private static readonly string[] ModelNamespaces =
        ["Lockstep.Models.mm", "Lockstep.Models.virt.kvm", "Lockstep.Models.arch.x86", "Lockstep.Models.lib", "Lockstep.Models.Checking", "Lockstep.Models.Proposals"];

    private static IReadOnlyList<Type> ModelTypes(Assembly assembly) => assembly.GetTypes()
        .Where(t => t.Namespace != null && ModelNamespaces.Any(n => t.Namespace == n || t.Namespace.StartsWith(n + ".")))
        .Append(typeof(Lockstep.Models.Scenarios.World))
        .Where(t => !IsCompilerGenerated(t) && !t.IsEnum)
        .ToList();

    private static bool IsCompilerGenerated(Type t)
        => t.IsDefined(typeof(CompilerGeneratedAttribute)) || (t.DeclaringType != null && IsCompilerGenerated(t.DeclaringType));

    private const BindingFlags InstanceFields = BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly;

    /// <summary>Every field of <paramref name="types"/> that breaks the rule, as "Type.field: why".</summary>
    public static IReadOnlyList<string> Violations(IReadOnlyList<Type> types)
    {
        var found = new List<string>();
        foreach (var type in types)
            foreach (var f in type.GetFields(InstanceFields))
            {
                var name = $"{type.Name}.{f.Name}";
                if (f.GetCustomAttribute<PerTaskAttribute>() != null)
                {
                    var storedIn = types.SelectMany(t => t.GetFields(InstanceFields)).FirstOrDefault(g => Mentions(g.FieldType, type));
                    if (storedIn != null) found.Add($"{name}: marked [PerTask], but {storedIn.DeclaringType!.Name}.{storedIn.Name} stores a {type.Name}");
                    continue;
                }
                if (!f.IsInitOnly) found.Add($"{name}: a plain mutable field (make it Shared<T>, SharedList<T> or Guarded<T>, or readonly)");
                if (MutableCollection(f.FieldType) is { } what) found.Add($"{name}: holds {what}, which the explorer does not see");
            }
        return found;
    }

    /// <summary>A mutable collection somewhere in <paramref name="t"/> (its element or type arguments too), or null.</summary>
    private static string? MutableCollection(Type t)
    {
        if (t.IsArray) return $"an array {t.Name}";
        if (t.IsGenericType && t.GetGenericTypeDefinition() == typeof(Guarded<>)) return null;   // every access checks its lock
        var ns = t.Namespace ?? "";
        if (ns.StartsWith("System.Collections") && !ns.StartsWith("System.Collections.Immutable")
            && !(t.IsInterface && (t.Name.StartsWith("IReadOnly") || t.Name.StartsWith("IEnumerable"))))
            return $"a mutable {t.Name}";
        return t.IsGenericType ? t.GetGenericArguments().Select(MutableCollection).FirstOrDefault(w => w != null) : null;
    }

    private static bool Mentions(Type fieldType, Type t)
        => fieldType == t || (fieldType.IsArray && Mentions(fieldType.GetElementType()!, t))
           || (fieldType.IsGenericType && fieldType.GetGenericArguments().Any(a => Mentions(a, t)));

    [Fact]
    public void ModelTypesKeepNoStateTheExplorerCannotSee()
    {
        var types = ModelTypes(typeof(Registry).Assembly);
        Assert.True(types.Count > 30, $"only {types.Count} model types found");
        Assert.Empty(Violations(types));
    }

    // ---- the rule, both ways: planted fields it must reject, and the kinds of state it must accept ----
    // (only their declarations are inspected, so they are never assigned)
#pragma warning disable CS0649

    private sealed class PlainField { public int users; }

    private sealed class PlainList { public readonly List<int> gpc_list = new(); }

    private sealed class SharedOfMutable { public readonly Shared<Dictionary<long, int>>? sptes; }

    private sealed class ArrayField { public readonly int[] pte = new int[2]; }

    private sealed class MutableInterface { public readonly IList<int>? itree; }

    private sealed class StackObject { [PerTask("a local of the caller")] public int flags; }

    private sealed class StoresStackObject { public readonly StackObject? range; }

    private sealed class Accepted
    {
        public readonly Shared<ImmutableDictionary<long, int>>? sptes;
        public readonly SharedList<int>? gpc_list;
        public readonly Guarded<List<int>>? deferred_list;
        public readonly ImmutableArray<int> pte;
        public readonly IReadOnlyList<int>? slots;
        public readonly string? name;
        public int pfn { get; }
    }
#pragma warning restore CS0649

    [Theory]
    [InlineData(typeof(PlainField), "PlainField.users: a plain mutable field")]
    [InlineData(typeof(PlainList), "PlainList.gpc_list: holds a mutable List`1")]
    [InlineData(typeof(SharedOfMutable), "SharedOfMutable.sptes: holds a mutable Dictionary`2")]
    [InlineData(typeof(ArrayField), "ArrayField.pte: holds an array Int32[]")]
    [InlineData(typeof(MutableInterface), "MutableInterface.itree: holds a mutable IList`1")]
    public void APlantedFieldIsRejected(Type planted, string violation)
        => Assert.StartsWith(violation, Assert.Single(Violations([planted, typeof(Accepted)])));

    [Fact]
    public void APerTaskFieldIsAcceptedOnlyWhileNoModelTypeStoresItsObject()
    {
        Assert.Empty(Violations([typeof(StackObject), typeof(Accepted)]));
        Assert.Equal("StackObject.flags: marked [PerTask], but StoresStackObject.range stores a StackObject",
            Assert.Single(Violations([typeof(StackObject), typeof(StoresStackObject)])));
    }
}
