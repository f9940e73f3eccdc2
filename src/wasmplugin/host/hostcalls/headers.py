"""Header, trailer and metadata maps.

Map types 0–3 come from the effective stream (``StreamHost.header_map``), 6/7 from the http_call
response being delivered; anything not available now answers BAD_ARGUMENT (Envoy), except a value
read in the access-log phase (NOT_FOUND). Keys are lower-cased by ``HeaderMap``; a frozen map is
read-only. Serialized pairs that do not parse count as an empty list (cpp-host ``toPairs``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wasmplugin.abi.enums import AbiVersion
from wasmplugin.abi.pairs import Pair, PairsFormatError, decode_pairs
from wasmplugin.host.functions import Args
from wasmplugin.host.hostcalls import BAD_ARGUMENT, NOT_FOUND, OK

if TYPE_CHECKING:
    from wasmplugin.host.vm import PluginVM


def read_pairs(vm: PluginVM, ptr: int, size: int) -> list[Pair]:
    data = vm.mem.read(ptr, size)
    limits = vm.services.limits
    try:
        return decode_pairs(data, max_bytes=limits.pairs_max_bytes, max_count=limits.pairs_max_count)
    except PairsFormatError:
        return []


def proxy_get_header_map_pairs(vm: PluginVM, a: Args) -> int:
    hmap = vm.header_map(a[0])
    if hmap is None:
        return BAD_ARGUMENT
    data = hmap.serialize() if len(hmap) else b""
    return vm.copy_out(data, a[4], a[8])


def proxy_set_header_map_pairs(vm: PluginVM, a: Args) -> int:
    pairs = read_pairs(vm, a[4], a[8])
    hmap = vm.header_map(a[0])
    if hmap is None or hmap.frozen:
        return BAD_ARGUMENT
    hmap.set_all(pairs)
    return OK


def proxy_get_header_map_value(vm: PluginVM, a: Args) -> int:
    map_type = a[0]
    kp = a[4]
    kn = a[8]
    mem = vm.mem
    if kp + kn > mem.size:
        mem.check(kp, kn)
    key = mem.view[kp : kp + kn].tobytes()
    if map_type <= 3:  # vm.header_map(), inlined on the two hottest header calls
        host = vm.effective.host
        hmap = host.header_map(map_type) if host is not None else None
    else:
        hmap = vm.header_map(map_type)
    if hmap is None:
        if map_type <= 7 and vm.in_log:
            return NOT_FOUND
        return BAD_ARGUMENT
    value = hmap.get_bytes(key)
    if value is None:
        if vm.abi is AbiVersion.V0_1_0:
            value = b""
        else:
            return NOT_FOUND
    return vm.copy_out(value, a[12], a[16])


def proxy_add_header_map_value(vm: PluginVM, a: Args) -> int:
    map_type = a[0]
    kp = a[4]
    kn = a[8]
    vp = a[12]
    vn = a[16]
    mem = vm.mem
    if kp + kn > mem.size or vp + vn > mem.size:
        mem.check(kp, kn)
        mem.check(vp, vn)
    if map_type <= 3:
        host = vm.effective.host
        hmap = host.header_map(map_type) if host is not None else None
    else:
        hmap = vm.header_map(map_type)
    if hmap is None or hmap.frozen:
        return BAD_ARGUMENT
    view = mem.view
    hmap.add_bytes(view[kp : kp + kn].tobytes(), view[vp : vp + vn].tobytes())
    return OK


def proxy_replace_header_map_value(vm: PluginVM, a: Args) -> int:
    mem = vm.mem
    key = mem.read(a[4], a[8])
    value = mem.read(a[12], a[16])
    hmap = vm.header_map(a[0])
    if hmap is None or hmap.frozen:
        return BAD_ARGUMENT
    hmap.replace(key, value)
    return OK


def proxy_remove_header_map_value(vm: PluginVM, a: Args) -> int:
    key = vm.mem.read(a[4], a[8])
    hmap = vm.header_map(a[0])
    if hmap is None or hmap.frozen:
        return BAD_ARGUMENT
    hmap.remove(key)
    return OK


def proxy_get_header_map_size(vm: PluginVM, a: Args) -> int:
    hmap = vm.header_map(a[0])
    if hmap is None:
        return BAD_ARGUMENT
    vm.mem.put_u32(a[4], hmap.byte_size())
    return OK
