"""Load and validate a policy file into a frozen ``Policy``; every error names ``file:line:col``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lilith.errors import PolicyError
from lilith.policy.decision import Decision
from lilith.policy.lookalikes import protected_tool_names
from lilith.policy.names import compile_name
from lilith.policy.sanitize_rules import DEFAULT_SANITIZE, SanitizeSettings, compile_sanitize
from lilith.policy.spellings import refuse_two_spellings
from lilith.policy.static_rules import ALLOW, DENY, StaticRules
from lilith.policy.yaml_source import YamlDocument, load_yaml

if TYPE_CHECKING:  # imported lazily: only policies with argument rules pay for RE2 at start-up
    from lilith.policy.access_rules import AccessRules
    from lilith.policy.argument_rules import ArgumentRules
    from lilith.policy.paths import Resolver
    from lilith.policy.rate_limits import RateRule
    from lilith.policy.taint import TaintPolicy

_METADATA_KEYS = frozenset({"id", "customer_id", "customerId", "name", "description", "created_at", "createdAt"})
# lilith-zero's camelCase spellings of our sections. Both spellings of one section in a file are refused:
# one would silently replace the other (a duplicate key under another name; rules: lilith.policy.spellings).
_CAMEL_CASE = {
    "staticRules": "static_rules",
    "argumentRules": "argument_rules",
    "rateLimits": "rate_limits",
    "rateLimit": "rate_limit",
    "schemaVersion": "schema_version",
    "replayWindowSecs": "replay_window_secs",
    "toolClasses": "tool_classes",
    "taintRules": "taint_rules",
    "protectLethalTrifecta": "protect_lethal_trifecta",
    "resourceRules": "resource_rules",
    "promptRules": "prompt_rules",
    "onDeny": "on_deny",
    "pinMode": "pin_mode",
    "customerId": "customer_id",
    "createdAt": "created_at",
}
MODES = ("enforce", "audit")
ON_DENY = ("error", "tool_result")
PIN_MODES = ("enforce", "audit", "off")


class Policy:
    """A loaded, compiled policy. Never mutated after loading (a reload builds a new one)."""

    __slots__ = (
        "argument_rules",
        "mode",
        "on_deny",
        "pin_mode",
        "prompt_rules",
        "rate_limits",
        "replay_window",
        "resource_rules",
        "sanitize",
        "sha256",
        "source",
        "static_rules",
        "taint",
        "warnings",
    )

    def __init__(
        self,
        source: str,
        static_rules: StaticRules,
        *,
        mode: str = "enforce",
        on_deny: str = "error",
        argument_rules: ArgumentRules | None = None,
        rate_limits: tuple[RateRule, ...] = (),
        taint: TaintPolicy | None = None,
        resource_rules: AccessRules | None = None,
        prompt_rules: AccessRules | None = None,
        pin_mode: str | None = None,
        sanitize: SanitizeSettings = DEFAULT_SANITIZE,
        replay_window: float = 0.0,
        warnings: tuple[str, ...] = (),
        sha256: str | None = None,
    ) -> None:
        self.source = source
        self.sha256 = sha256  # of the very bytes this policy was compiled from (None: not from a file)
        self.static_rules = static_rules
        self.mode = mode
        self.on_deny = on_deny
        self.argument_rules = argument_rules
        self.rate_limits = rate_limits
        self.taint = taint
        self.resource_rules = resource_rules
        self.prompt_rules = prompt_rules
        # None: not set here; the command line decides (off, or enforce with --pin-store).
        self.pin_mode = pin_mode
        self.sanitize = sanitize  # what servers show the client: lists and results (lilith.core.sanitize)
        self.replay_window = replay_window  # seconds a finished request's id stays unusable (0: while in flight)
        self.warnings = warnings  # "file:line:col: warning: ..." for parts that load but cannot act

    def decide_tool_call(self, tool: str, arguments: Any, resolver: Resolver) -> Decision:
        """The tool must be allowed by name, and then every argument rule for it must pass."""
        decision = self.static_rules.decide(tool)
        if decision.allowed and self.argument_rules is not None:
            decision = self.argument_rules.check(tool, arguments, resolver) or decision
        return self.present(decision)

    def tool_visible(self, tool: str) -> bool:
        """Would a call to this tool be allowed by name? (Lists show only tools a client may call.)"""
        return self.mode == "audit" or self.static_rules.decide(tool).allowed

    def present(self, decision: Decision) -> Decision:
        """A denial as this policy's mode and on_deny want it shown."""
        if decision.allowed:
            return decision
        if self.mode == "audit":
            return decision._replace(allowed=True, would_deny=True)
        if self.on_deny == "tool_result":
            return decision._replace(as_tool_result=True)
        return decision


def deny_all_policy() -> Policy:
    """What runs when no policy was given: every tool call is denied."""
    return Policy("<no policy>", StaticRules({}, ()))


def load_policy(path: str) -> Policy:
    """A policy file known to be a regular file (tests, tools). This pure layer cannot open without
    blocking, so ``lilith run`` and ``lilith policy`` read through ``lilith.runtime.policy_file``, which
    refuses a FIFO, a device or an oversized file instead of waiting on it."""
    file = str(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        raise PolicyError("policy file not found", file=file) from None
    except OSError as exc:
        raise PolicyError(f"cannot read policy file: {exc.strerror or exc}", file=file) from None
    return parse_policy_bytes(data, file)


def parse_policy_bytes(data: bytes, file: str) -> Policy:
    """A policy file's content compiled. The policy's ``sha256`` is of exactly these bytes, so the audit
    log names the file that was parsed, never one that replaced it a moment later."""
    import hashlib

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyError(f"cannot read policy file: {exc}", file=file) from None
    # Line ends as text-mode open() read them: \r\n and a lone \r end a line.
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return parse_policy(text, file, sha256=hashlib.sha256(data).hexdigest())


def parse_policy(text: str, file: str, *, sha256: str | None = None) -> Policy:
    """The compiled policy, or a PolicyError naming the place: never any other exception, so a bad file is
    refused with a message at start-up (exit 2) and on reload (the old policy stays), never a traceback."""
    try:
        return _parse_policy(text, file, sha256)
    except PolicyError:
        raise
    except RecursionError:
        raise PolicyError("the policy is nested too deeply", file=file) from None
    except Exception as exc:  # a bug in a validator must still read as a refused file, not a crash
        raise PolicyError(f"cannot load policy: {type(exc).__name__}: {exc}", file=file) from None


def _parse_policy(text: str, file: str, sha256: str | None) -> Policy:
    doc = load_yaml(text, file)
    root = doc.value
    if not isinstance(root, dict):
        raise doc.error((), "a policy must be a YAML mapping (e.g. 'version: 1' and 'static_rules: ...')")
    rules: dict[str, str] = {}
    mode, on_deny = "enforce", "error"
    argument_rules: ArgumentRules | None = None
    rate_limits: tuple[RateRule, ...] = ()
    taint_sections: dict[str, tuple[tuple[str, ...], Any]] = {}
    protect: tuple[str, ...] | None = None  # where the trifecta guard is turned on
    resource_taints: frozenset[str] = frozenset()
    resource_rules: AccessRules | None = None
    prompt_rules: AccessRules | None = None
    pin_mode: str | None = None
    replay_window = 0.0
    sanitize = DEFAULT_SANITIZE
    refuse_two_spellings(doc, (), root, _CAMEL_CASE, "section")
    for key, value in root.items():
        if key == "version":
            if value not in (1, "1", "1.0"):
                raise doc.error(("version",), f"unsupported policy version {value!r}; this build reads version 1")
        elif key in ("static_rules", "staticRules"):
            rules = _static_rules(doc, (key,), value)
        elif key in ("argument_rules", "argumentRules"):
            from lilith.policy.argument_rules import compile_argument_rules

            argument_rules = compile_argument_rules(doc, (key,), value)
        elif key in ("rate_limits", "rateLimits"):
            from lilith.policy.rate_limits import compile_rate_limits

            rate_limits = compile_rate_limits(doc, (key,), value) + rate_limits  # rate_limit's come last
        elif key in ("rate_limit", "rateLimit"):  # lilith-zero's session-wide form
            from lilith.policy.rate_limits import compile_session_rate_limit

            rate_limits = rate_limits + compile_session_rate_limit(doc, (key,), value)
        elif key in ("schema_version", "schemaVersion"):
            if value != 1 or isinstance(value, bool):
                raise doc.error((key,), f"unsupported {key} {value!r}; this build reads 1")
        elif key in ("replay_window_secs", "replayWindowSecs"):
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 86_400:
                raise doc.error((key,), f"{key} must be a whole number of seconds in [0, 86400]")
            replay_window = float(value)
        elif key in ("tool_classes", "toolClasses", "taint_rules", "taintRules"):
            section = "classes" if key in ("tool_classes", "toolClasses") else "rules"
            taint_sections[section] = ((key,), value)
        elif key in ("protect_lethal_trifecta", "protectLethalTrifecta"):
            if not isinstance(value, bool):
                raise doc.error((key,), f"{key} must be true or false")
            protect = (key,) if value else None
        elif key in ("resource_rules", "resourceRules"):
            from lilith.policy.access_rules import compile_access_rules

            resource_rules = compile_access_rules(doc, (key,), value, kind="resource", key="uri_pattern")
            resource_taints = resource_rules.added_taints
        elif key in ("prompt_rules", "promptRules"):
            from lilith.policy.access_rules import compile_access_rules

            prompt_rules = compile_access_rules(doc, (key,), value, kind="prompt", key="prompt")
        elif key == "mode":
            mode = _choice(doc, ("mode",), value, MODES)
        elif key in ("on_deny", "onDeny"):
            on_deny = _choice(doc, (key,), value, ON_DENY)
        elif key in ("pin_mode", "pinMode"):
            # YAML 1.1 reads a bare `off` as false; that is what the author wrote.
            pin_mode = _choice(doc, (key,), "off" if value is False else value, PIN_MODES)
        elif key == "sanitize":
            sanitize = compile_sanitize(doc, (key,), value)
        elif key in _METADATA_KEYS:
            continue
        else:
            raise doc.error(
                (str(key),),
                f"unknown key '{key}' (expected version, mode, on_deny, static_rules, argument_rules, rate_limits, "
                "rate_limit, tool_classes, taint_rules, protect_lethal_trifecta, resource_rules, prompt_rules, "
                "pin_mode, replay_window_secs, sanitize)",
            )
    taint = None
    if taint_sections or protect:
        from lilith.policy.taint import compile_taint_policy

        classes, taint_rules = taint_sections.get("classes"), taint_sections.get("rules")
        taint = compile_taint_policy(doc, classes, taint_rules, protect, resource_taints)
    return Policy(
        file,
        # look-alikes of names that other restricting sections name must not escape them
        StaticRules.compile(rules, protected_tool_names(argument_rules, rate_limits, taint)),
        mode=mode,
        on_deny=on_deny,
        argument_rules=argument_rules,
        rate_limits=rate_limits,
        taint=taint,
        resource_rules=resource_rules,
        prompt_rules=prompt_rules,
        pin_mode=pin_mode,
        replay_window=replay_window,
        sanitize=sanitize,
        warnings=taint.warnings if taint is not None else (),
        sha256=sha256,
    )


def _choice(doc: YamlDocument, path: tuple[str, ...], value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise doc.error(path, f"{path[-1]} must be one of {', '.join(allowed)}, not {value!r}")
    return str(value)


def _static_rules(doc: YamlDocument, path: tuple[str, ...], value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise doc.error(path, "static_rules must map tool names or globs to ALLOW or DENY")
    rules: dict[str, str] = {}
    for tool, verdict in value.items():
        where = (*path, str(tool))
        if not isinstance(tool, str) or not tool:
            raise doc.error(where, "a static rule's key must be a non-empty tool name or glob")
        if "\x00" in tool:
            raise doc.error(where, "a tool name cannot contain NUL")
        compile_name(doc, where, tool, "a static rule's key")  # the one glob dialect; errors name the place
        if not isinstance(verdict, str) or verdict.upper() not in (ALLOW, DENY):
            raise doc.error(where, f"rule for '{tool}' must be ALLOW or DENY, not {verdict!r}")
        rules[tool] = verdict.upper()
    return rules
