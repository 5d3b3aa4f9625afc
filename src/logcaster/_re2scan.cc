// Regex search over whole regions of lines with the GIL released, through RE2.
//
// Optional: built only where RE2's headers and library are installed (Debian:
// libre2-dev). logcaster.query.regex falls back to the google-re2 bindings,
// which give the same answers holding the GIL; tests compare the two.
//
// compile(pattern) -> capsule holding an RE2 (UTF-8, never_nl, the block form of
// the user's pattern made by logcaster.query.regex.per_line), or None when this
// RE2 rejects the pattern. scan(capsule, buf, spans, out) -> int: for each
// (start, end) pair of the array('q') `spans` (regions of whole lines), appends
// to `out` the spans of the lines holding a match and returns their number; the
// rules are those of logcaster.query.matcher.py_regex_lines.
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <re2/re2.h>

#include <cstring>
#include <vector>

namespace {

const char *kName = "logcaster._re2scan.Pattern";

void destroy(PyObject *capsule) {
    delete static_cast<re2::RE2 *>(PyCapsule_GetPointer(capsule, kName));
}

PyObject *compile(PyObject *, PyObject *args) {
    Py_buffer pattern;
    if (!PyArg_ParseTuple(args, "y*", &pattern))
        return nullptr;
    re2::RE2::Options opts;
    opts.set_log_errors(false);
    opts.set_never_nl(true);
    auto *rx = new re2::RE2(
        re2::StringPiece(static_cast<const char *>(pattern.buf), (size_t)pattern.len), opts);
    PyBuffer_Release(&pattern);
    if (!rx->ok()) {
        delete rx;
        Py_RETURN_NONE;
    }
    PyObject *capsule = PyCapsule_New(rx, kName, destroy);
    if (capsule == nullptr)
        delete rx;
    return capsule;
}

// Lines of text[start:end] holding a match, added to out; returns their number.
Py_ssize_t scan_region(const re2::RE2 &rx, re2::StringPiece text, size_t start, size_t end,
                       std::vector<long long> &out) {
    const char *base = text.data();
    Py_ssize_t count = 0;
    size_t pos = start;
    re2::StringPiece m;
    const void *first_nl = start < end ? memchr(base + start, '\n', end - start) : nullptr;
    if (start < end && (first_nl == nullptr || (size_t)((const char *)first_nl - base) == end - 1)) {
        // One line (a prefilter's usual region): whether it holds a match is all that
        // is asked, without the match's bounds (RE2 then runs one DFA pass, not two).
        // The line's own bytes, its neighbours as context: the same answer.
        size_t cut = first_nl ? end - 1 : end;
        if (!rx.Match(text, start, cut, re2::RE2::UNANCHORED, nullptr, 0))
            return 0;
        if (!out.empty() && out.back() == (long long)start) {
            out.back() = (long long)end;
        } else {
            out.push_back((long long)start);
            out.push_back((long long)end);
        }
        return 1;
    }
    while (pos < end) {
        if (!rx.Match(text, pos, end, re2::RE2::UNANCHORED, &m, 1))
            break;
        size_t hit = (size_t)(m.data() - base);
        if (hit >= end)
            break;  // an empty match after the region's last newline is no line
        const void *prev = hit > pos ? memrchr(base + pos, '\n', hit - pos) : nullptr;
        size_t ls = prev ? (size_t)((const char *)prev - base) + 1 : pos;
        const void *nl = memchr(base + hit, '\n', end - hit);
        size_t le = nl ? (size_t)((const char *)nl - base) + 1 : end;
        size_t cut = nl ? le - 1 : end;
        if (hit + m.size() >= le &&
            !rx.Match(re2::StringPiece(base + ls, cut - ls), 0, cut - ls, re2::RE2::UNANCHORED,
                      nullptr, 0)) {
            pos = le;  // the match ran past its line; the line alone fails
            continue;
        }
        if (!out.empty() && out.back() == (long long)ls) {
            out.back() = (long long)le;
        } else {
            out.push_back((long long)ls);
            out.push_back((long long)le);
        }
        count++;
        pos = le;
    }
    return count;
}

PyObject *scan(PyObject *, PyObject *args) {
    PyObject *capsule, *buf_obj, *spans_obj, *out;
    if (!PyArg_ParseTuple(args, "OOOO", &capsule, &buf_obj, &spans_obj, &out))
        return nullptr;
    auto *rx = static_cast<re2::RE2 *>(PyCapsule_GetPointer(capsule, kName));
    if (rx == nullptr)
        return nullptr;
    Py_buffer view, spans;
    if (PyObject_GetBuffer(buf_obj, &view, PyBUF_SIMPLE) < 0)
        return nullptr;
    if (PyObject_GetBuffer(spans_obj, &spans, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(&view);
        return nullptr;
    }
    const long long *sp = static_cast<const long long *>(spans.buf);
    Py_ssize_t pairs = spans.len / (Py_ssize_t)(2 * sizeof(long long));
    for (Py_ssize_t i = 0; i < pairs; i++) {
        if (sp[2 * i] < 0 || sp[2 * i + 1] < sp[2 * i] || sp[2 * i + 1] > view.len) {
            PyBuffer_Release(&spans);
            PyBuffer_Release(&view);
            PyErr_SetString(PyExc_ValueError, "span outside the buffer");
            return nullptr;
        }
    }
    std::vector<long long> found;
    Py_ssize_t count = 0;
    bool nomem = false;
    Py_BEGIN_ALLOW_THREADS
    try {
        re2::StringPiece text(static_cast<const char *>(view.buf), (size_t)view.len);
        for (Py_ssize_t i = 0; i < pairs; i++)
            count += scan_region(*rx, text, (size_t)sp[2 * i], (size_t)sp[2 * i + 1], found);
    } catch (const std::bad_alloc &) {
        nomem = true;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&spans);
    PyBuffer_Release(&view);
    if (nomem)
        return PyErr_NoMemory();
    if (!found.empty()) {
        PyObject *bytes = PyBytes_FromStringAndSize(
            reinterpret_cast<const char *>(found.data()),
            (Py_ssize_t)(found.size() * sizeof(long long)));
        if (bytes == nullptr)
            return nullptr;
        PyObject *r = PyObject_CallMethod(out, "frombytes", "O", bytes);
        Py_DECREF(bytes);
        if (r == nullptr)
            return nullptr;
        Py_DECREF(r);
    }
    return PyLong_FromSsize_t(count);
}

PyMethodDef methods[] = {
    {"compile", compile, METH_VARARGS, "compile(pattern) -> RE2 capsule, or None if rejected"},
    {"scan", scan, METH_VARARGS,
     "scan(pattern, buf, spans, out) -> lines of the regions `spans` holding a match"},
    {nullptr, nullptr, 0, nullptr},
};

PyModuleDef module = {PyModuleDef_HEAD_INIT, "logcaster._re2scan", nullptr, -1, methods};

}  // namespace

PyMODINIT_FUNC PyInit__re2scan(void) { return PyModule_Create(&module); }
