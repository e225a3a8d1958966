using Lockstep.Engine;

namespace Lockstep.Kernel;

/// <summary>
/// A member that a patch adds to a struct it does not own (<c>+ bool oom_reaping;</c> in struct kvm): declared once,
/// stored per instance as engine-visible state, so a race on it is explored like one on any other field.
/// </summary>
public sealed class Field<T>(string name, T initial = default!)
{
    /// <summary>As the kernel would name it, e.g. "kvm->oom_reaping".</summary>
    public string Name { get; } = name;

    public T Initial { get; } = initial;
}

/// <summary>The added members of one struct instance.</summary>
public sealed class StructFields
{
    private readonly Dictionary<object, object> _values = new(ReferenceEqualityComparer.Instance);

    /// <summary>The member's storage in this instance (created at its initial value on first use).</summary>
    public Shared<T> Get<T>(Field<T> field)
    {
        if (_values.TryGetValue(field, out var value)) return (Shared<T>)value;
        var shared = new Shared<T>(field.Name, field.Initial);
        _values[field] = shared;
        return shared;
    }

    /// <summary>Initialises the member of this instance to <paramref name="value"/>, before any task can see the instance.</summary>
    /// <exception cref="InvalidOperationException">The member was used already.</exception>
    public void Init<T>(Field<T> field, T value)
    {
        if (_values.ContainsKey(field)) throw new InvalidOperationException($"{field.Name} is initialised after its first use");
        _values[field] = new Shared<T>(field.Name, value);
    }
}
