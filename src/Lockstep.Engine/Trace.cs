using System.Collections;
using System.Globalization;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Text;

namespace Lockstep.Engine;

/// <summary>
/// One event of an execution's trace: a scheduled operation, a note from the model, or an event a layer above records
/// (<see cref="Data"/> says which). Traces are only kept when an execution is replayed with tracing on.
/// </summary>
public readonly record struct TraceEvent(int Step, int Thread, string ThreadName, TraceData Data)
{
    /// <summary>What <see cref="Execution.Annotator"/> returned for the thread when the event was recorded (null without one).</summary>
    public object? Annotation { get; init; }

    public override string ToString() => Data.Text;
}

/// <summary>
/// The typed payload of a <see cref="TraceEvent"/>. The engine defines thread start, yield, shared access and note; a
/// layer above derives its own records (the kernel layer: function entered/left, lock operations, ...) and records
/// them with <see cref="Sim.Emit"/>. Payloads are values: two replays of one schedule record equal traces.
/// </summary>
public abstract record TraceData
{
    /// <summary>The event as one line of text, without indentation (what <c>explain</c> prints).</summary>
    public abstract string Text { get; }

    public sealed override string ToString() => Text;
}

/// <summary>A thread's first step: its body starts running.</summary>
public sealed record ThreadStarted : TraceData
{
    public static readonly ThreadStarted Instance = new();

    public override string Text => "start";
}

/// <summary>A step that touches nothing (<see cref="Sim.Yield"/>).</summary>
public sealed record ThreadYielded : TraceData
{
    public static readonly ThreadYielded Instance = new();

    public override string Text => "yield";
}

/// <summary>How a traced operation touched its shared object.</summary>
public enum SharedAccessKind : byte
{
    Read,
    Write,
    /// <summary>An atomic read-modify-write (update, compare-exchange, wait-and-update).</summary>
    Update,
}

/// <summary>
/// A step that accessed a <see cref="Shared{T}"/>: its name, how, and the value before and after, each rendered by
/// <see cref="TraceFormat.Value"/> when the access happened.
/// </summary>
public sealed record SharedAccess(string Object, SharedAccessKind Access, string Before, string After) : TraceData
{
    /// <summary>The access left the value as it was (a read, a failed compare-exchange, an update to the same value).</summary>
    public bool Unchanged => Before == After;

    public override string Text => Access switch
    {
        SharedAccessKind.Read => $"read {Object} = {Before}",
        SharedAccessKind.Write => $"write {Object} := {After}",
        _ when Unchanged => $"update {Object}: {Before} (unchanged)",
        _ => $"update {Object}: {Before} -> {After}",
    };
}

/// <summary>Free text the model added with <see cref="Sim.Note(string)"/>.</summary>
public sealed record TraceNote(string Message) : TraceData
{
    public override string Text => Message;
}

/// <summary>A value that presents itself in traces (instead of <see cref="TraceFormat"/>'s generic rendering).</summary>
public interface ITraceValue
{
    /// <summary>A short, stable, readable rendering, e.g. "2 readers active, next ticket 5".</summary>
    string TraceText { get; }
}

/// <summary>
/// Renders values for traces: stable (the same value prints the same in every replay) and readable, with no .NET
/// namespaces, generic arities or record dumps. <see cref="ITraceValue"/> first; then null, strings, numbers (invariant),
/// booleans and enums; tuples as (a, b); dictionaries as {k: v}; collections as [a, b] (a run of items that print alike
/// as "3 x a"; at most <see cref="MaxItems"/>, then "+N more"; nested deeper than <see cref="MaxDepth"/> as a count); records and structs
/// as Name(field: value, ..) over their fields; delegates by method name; other objects by their own ToString, or their
/// type name when they have none.
/// </summary>
public static class TraceFormat
{
    public const int MaxItems = 8;

    public const int MaxDepth = 3;

    public static string Value(object? value) => Value(value, 0);

    /// <summary>A type's name as a reader wants it: "ImmutableList" for ImmutableList`1, no namespace or outer class.</summary>
    public static string TypeName(Type type)
    {
        var name = type.Name;
        var tick = name.IndexOf('`');
        return tick < 0 ? name : name[..tick];
    }

    private static void Append(StringBuilder sb, object? value, int depth)
    {
        switch (value)
        {
            case null:
                sb.Append("null");
                return;
            case ITraceValue t:
                sb.Append(t.TraceText);
                return;
            case string s:
                sb.Append(s);
                return;
            case bool b:
                sb.Append(b ? "true" : "false");
                return;
            case char c:
                sb.Append(c);
                return;
            case Enum e:
                sb.Append(e.ToString());
                return;
            case IFormattable f when value.GetType().IsPrimitive || value is decimal:
                sb.Append(f.ToString(null, CultureInfo.InvariantCulture));
                return;
            case Delegate d:
                var method = d.Method.Name;
                sb.Append(method.Contains('<') ? "fn" : method);
                return;
            case ITuple tuple:
                sb.Append('(');
                for (var i = 0; i < tuple.Length; i++)
                {
                    if (i > 0) sb.Append(", ");
                    Append(sb, tuple[i], depth + 1);
                }
                sb.Append(')');
                return;
            case IDictionary dictionary:
                if (depth >= MaxDepth) { Count(sb, dictionary.Count, "entry", "entries"); return; }
                sb.Append('{');
                var n = 0;
                foreach (DictionaryEntry entry in dictionary)
                {
                    if (n == MaxItems) { sb.Append($", +{dictionary.Count - n} more"); break; }
                    if (n++ > 0) sb.Append(", ");
                    Append(sb, entry.Key, depth + 1);
                    sb.Append(": ");
                    Append(sb, entry.Value, depth + 1);
                }
                sb.Append('}');
                return;
            case IEnumerable sequence:
                Sequence(sb, sequence, depth);
                return;
        }
        var type = value.GetType();
        if (IsRecord(type) || (type.IsValueType && !HasOwnToString(type)))
        {
            Fields(sb, value, type, depth);
            return;
        }
        if (HasOwnToString(type))
        {
            sb.Append(value.ToString());
            return;
        }
        sb.Append(TypeName(type));
    }

    private static void Sequence(StringBuilder sb, IEnumerable sequence, int depth)
    {
        if (depth >= MaxDepth)
        {
            var count = 0;
            foreach (var _ in sequence) count++;
            Count(sb, count, "item", "items");
            return;
        }
        // runs of items that print alike collapse to "3 x item" (objects that show only their type name)
        var runs = new List<(string Text, int Count)>();
        var more = 0;
        foreach (var item in sequence)
        {
            var text = Value(item, depth + 1);
            if (runs.Count > 0 && runs[^1].Text == text) runs[^1] = (text, runs[^1].Count + 1);
            else if (runs.Count < MaxItems) runs.Add((text, 1));
            else more++;
        }
        sb.Append('[');
        for (var i = 0; i < runs.Count; i++)
        {
            if (i > 0) sb.Append(", ");
            if (runs[i].Count > 1) sb.Append(runs[i].Count.ToString(CultureInfo.InvariantCulture)).Append(" x ");
            sb.Append(runs[i].Text);
        }
        if (more > 0) sb.Append($", +{more} more");
        sb.Append(']');
    }

    private static string Value(object? value, int depth)
    {
        var sb = new StringBuilder();
        Append(sb, value, depth);
        return sb.ToString();
    }

    private static void Count(StringBuilder sb, int count, string one, string many)
        => sb.Append('[').Append(count.ToString(CultureInfo.InvariantCulture)).Append(' ').Append(count == 1 ? one : many).Append(']');

    /// <summary>Name(a: 1, b: [..]) over the instance fields (auto-properties by their property name), in declaration order.</summary>
    private static void Fields(StringBuilder sb, object value, Type type, int depth)
    {
        sb.Append(TypeName(type));
        if (depth >= MaxDepth) return;
        sb.Append('(');
        var first = true;
        foreach (var field in FieldsOf(type))
        {
            if (!first) sb.Append(", ");
            first = false;
            sb.Append(field.Name).Append(": ");
            Append(sb, field.Field.GetValue(value), depth + 1);
        }
        sb.Append(')');
    }

    private static readonly Dictionary<Type, (string Name, FieldInfo Field)[]> FieldCache = new();

    private static (string Name, FieldInfo Field)[] FieldsOf(Type type)
    {
        lock (FieldCache)
        {
            if (FieldCache.TryGetValue(type, out var cached)) return cached;
            var chain = new List<Type>();
            for (var t = type; t != null && t != typeof(object) && t != typeof(ValueType); t = t.BaseType) chain.Insert(0, t);
            var fields = chain
                .SelectMany(t => t.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
                .Select(f => (Name: BackingFieldName(f), Field: f))
                .Where(f => f.Name != null && (f.Field.IsPublic || f.Field.Name.StartsWith('<')))
                .Select(f => (f.Name!, f.Field))
                .ToArray();
            FieldCache[type] = fields;
            return fields;
        }
    }

    /// <summary>"x" for the backing field &lt;x&gt;k__BackingField, the field's own name for a public field, else null.</summary>
    private static string? BackingFieldName(FieldInfo f)
    {
        if (!f.Name.StartsWith('<')) return f.IsPublic ? f.Name : null;
        var close = f.Name.IndexOf('>');
        return close > 1 && f.Name.AsSpan(close).StartsWith(">k__BackingField") ? f.Name[1..close] : null;
    }

    private static readonly Dictionary<Type, (bool Record, bool OwnToString)> ShapeCache = new();

    private static bool IsRecord(Type type) => Shape(type).Record;

    private static bool HasOwnToString(Type type) => Shape(type).OwnToString;

    /// <summary>A record: the compiler gave it PrintMembers and the ToString that calls it. Own ToString: written by hand.</summary>
    private static (bool Record, bool OwnToString) Shape(Type type)
    {
        lock (ShapeCache)
        {
            if (ShapeCache.TryGetValue(type, out var shape)) return shape;
            var toString = type.GetMethod(nameof(ToString), BindingFlags.Instance | BindingFlags.Public, Type.EmptyTypes);
            var declared = toString?.DeclaringType;
            var generated = toString?.GetCustomAttribute<CompilerGeneratedAttribute>() != null;
            var printMembers = type.GetMethod("PrintMembers", BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public,
                new[] { typeof(StringBuilder) }) != null;
            shape = (printMembers && generated, declared != null && declared != typeof(object) && declared != typeof(ValueType) && !generated);
            ShapeCache[type] = shape;
            return shape;
        }
    }
}

/// <summary>
/// The interpolated-string handler of <see cref="Sim.Note(ref TraceNoteHandler)"/>: when the execution is not tracing
/// nothing is formatted or allocated (the holes are not even evaluated); when it is, values that are not numbers or
/// strings are rendered by <see cref="TraceFormat.Value"/>.
/// </summary>
[InterpolatedStringHandler]
public ref struct TraceNoteHandler
{
    private DefaultInterpolatedStringHandler _text;

    public TraceNoteHandler(int literalLength, int formattedCount, out bool shouldAppend)
    {
        Enabled = shouldAppend = Execution.Current is { Tracing: true, Running: not null };
        _text = shouldAppend ? new DefaultInterpolatedStringHandler(literalLength, formattedCount, CultureInfo.InvariantCulture) : default;
    }

    /// <summary>The note will be kept (the execution is tracing).</summary>
    public bool Enabled { get; }

    public void AppendLiteral(string value) => _text.AppendLiteral(value);

    public void AppendFormatted(string? value) => _text.AppendFormatted(value);

    public void AppendFormatted(ReadOnlySpan<char> value) => _text.AppendFormatted(value);

    public void AppendFormatted<T>(T value)
    {
        if (value is IFormattable && value is not Enum) _text.AppendFormatted(value);
        else _text.AppendLiteral(TraceFormat.Value(value));
    }

    public void AppendFormatted<T>(T value, string? format) => _text.AppendFormatted(value, format);

    public void AppendFormatted<T>(T value, int alignment) => _text.AppendFormatted(TraceFormat.Value(value), alignment);

    public void AppendFormatted<T>(T value, int alignment, string? format) => _text.AppendFormatted(value, alignment, format);

    internal string ToStringAndClear() => _text.ToStringAndClear();
}
