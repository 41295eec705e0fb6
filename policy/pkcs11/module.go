//go:build pkcs11 && (linux || darwin) && (amd64 || arm64)

package pkcs11

import (
	"bytes"
	"fmt"
	"runtime"
	"unsafe"

	"github.com/ebitengine/purego"
)

const supported = true

func unsupported() error { return nil }

// The C structures used, laid out as on LP64 Linux and macOS (CK_ULONG
// is unsigned long: 8 bytes; pointers 8 bytes; no packing).

// ckAttribute is CK_ATTRIBUTE {type; pValue; ulValueLen}: 24 bytes.
type ckAttribute struct {
	Type  uint64
	Value unsafe.Pointer
	Len   uint64
}

// ckMechanism is CK_MECHANISM {mechanism; pParameter; ulParameterLen}.
type ckMechanism struct {
	Mechanism uint64
	Param     unsafe.Pointer
	ParamLen  uint64
}

// ckTokenInfo is CK_TOKEN_INFO: 96 bytes of text, 11 CK_ULONGs, two
// CK_VERSIONs, utcTime[16]; 208 bytes with the tail padding.
type ckTokenInfo struct {
	Label, ManufacturerID [32]byte
	Model, SerialNumber   [16]byte
	Flags                 uint64
	Counts                [10]uint64
	HardwareVersion       [2]byte
	FirmwareVersion       [2]byte
	UTCTime               [16]byte
	_                     [4]byte
}

// ckFunctionList is the head of CK_FUNCTION_LIST: a CK_VERSION (padded
// to 8 bytes), then the function pointers in the order of pkcs11.h; the
// ones used here are the first 44.
type ckFunctionList struct {
	Version [2]byte
	_       [6]byte
	Fn      [44]uintptr
}

// Indexes in ckFunctionList.Fn.
const (
	fnInitialize        = 0
	fnFinalize          = 1
	fnGetSlotList       = 4
	fnGetTokenInfo      = 6
	fnOpenSession       = 12
	fnCloseSession      = 13
	fnLogin             = 18
	fnLogout            = 19
	fnGetAttributeValue = 24
	fnFindObjectsInit   = 26
	fnFindObjects       = 27
	fnFindObjectsFinal  = 28
	fnSignInit          = 42
	fnSign              = 43
)

// Sizes the layout above must have; checked at start (a mismatch is a
// programming error caught by every test).
var _ = [1]struct{}{}[unsafe.Sizeof(ckAttribute{})-24]
var _ = [1]struct{}{}[unsafe.Sizeof(ckMechanism{})-24]
var _ = [1]struct{}{}[unsafe.Sizeof(ckTokenInfo{})-208]
var _ = [1]struct{}{}[unsafe.Offsetof(ckFunctionList{}.Fn)-8]

// module is the loaded library's functions.
type module struct {
	handle            uintptr
	initialize        func(args unsafe.Pointer) uint64
	finalize          func(reserved unsafe.Pointer) uint64
	getSlotList       func(tokenPresent uint8, list *uint64, count *uint64) uint64
	getTokenInfo      func(slot uint64, info *ckTokenInfo) uint64
	openSession       func(slot, flags uint64, app, notify unsafe.Pointer, session *uint64) uint64
	closeSession      func(session uint64) uint64
	login             func(session, userType uint64, pin *byte, pinLen uint64) uint64
	logout            func(session uint64) uint64
	getAttributeValue func(session, object uint64, template *ckAttribute, count uint64) uint64
	findObjectsInit   func(session uint64, template *ckAttribute, count uint64) uint64
	findObjects       func(session uint64, objects *uint64, max uint64, count *uint64) uint64
	findObjectsFinal  func(session uint64) uint64
	signInit          func(session uint64, mech *ckMechanism, key uint64) uint64
	sign              func(session uint64, data *byte, dataLen uint64, sig *byte, sigLen *uint64) uint64
}

// load dlopens the module and binds its function list.
func load(path string) (*module, error) {
	h, err := purego.Dlopen(path, purego.RTLD_NOW|purego.RTLD_LOCAL)
	if err != nil {
		return nil, fmt.Errorf("%w: cannot load %s: %v", ErrModule, path, err)
	}
	sym, err := purego.Dlsym(h, "C_GetFunctionList")
	if err != nil {
		_ = purego.Dlclose(h)
		return nil, fmt.Errorf("%w: %s exports no C_GetFunctionList: not a PKCS#11 module", ErrModule, path)
	}
	var getFunctionList func(list **ckFunctionList) uint64
	purego.RegisterFunc(&getFunctionList, sym)
	var fl *ckFunctionList
	if rv := getFunctionList(&fl); rv != ckrOK || fl == nil {
		_ = purego.Dlclose(h)
		return nil, fmt.Errorf("%w: %s: C_GetFunctionList returned 0x%x", ErrModule, path, rv)
	}
	if fl.Version[0] < 2 {
		_ = purego.Dlclose(h)
		return nil, fmt.Errorf("%w: %s implements PKCS#11 %d.%d; 2.x or later is needed", ErrModule, path, fl.Version[0], fl.Version[1])
	}
	m := &module{handle: h}
	bind := []struct {
		fn  any
		idx int
	}{
		{&m.initialize, fnInitialize}, {&m.finalize, fnFinalize}, {&m.getSlotList, fnGetSlotList}, {&m.getTokenInfo, fnGetTokenInfo},
		{&m.openSession, fnOpenSession}, {&m.closeSession, fnCloseSession}, {&m.login, fnLogin}, {&m.logout, fnLogout},
		{&m.getAttributeValue, fnGetAttributeValue}, {&m.findObjectsInit, fnFindObjectsInit}, {&m.findObjects, fnFindObjects},
		{&m.findObjectsFinal, fnFindObjectsFinal}, {&m.signInit, fnSignInit}, {&m.sign, fnSign},
	}
	for _, b := range bind {
		if fl.Fn[b.idx] == 0 {
			_ = purego.Dlclose(h)
			return nil, fmt.Errorf("%w: %s lacks function %d of the PKCS#11 table", ErrModule, path, b.idx)
		}
		purego.RegisterFunc(b.fn, fl.Fn[b.idx])
	}
	return m, nil
}

// session is a logged-in session with the key found: the token.
type session struct {
	m        *module
	cfg      Config
	h, key   uint64
	kind     uint64
	finalize bool // we initialized the library
	loggedIn bool
}

// openToken loads the module, finds the token by label, logs in and finds
// the private key.
func openToken(cfg Config) (token, error) {
	m, err := load(cfg.Module)
	if err != nil {
		return nil, err
	}
	s := &session{m: m, cfg: cfg}
	if err := s.open(); err != nil {
		_ = s.close()
		return nil, err
	}
	return s, nil
}

func (s *session) open() error {
	switch rv := s.m.initialize(nil); rv {
	case ckrOK:
		s.finalize = true
	case ckrAlreadyInitialized:
	default:
		return rvError("C_Initialize", rv, s.cfg)
	}
	slot, err := s.findSlot()
	if err != nil {
		return err
	}
	if rv := s.m.openSession(slot, ckfSerial|ckfRWSession, nil, nil, &s.h); rv != ckrOK {
		return rvError("C_OpenSession", rv, s.cfg)
	}
	pin := []byte(s.cfg.PIN)
	rv := s.m.login(s.h, ckuUser, unsafe.SliceData(pin), uint64(len(pin)))
	clear(pin)
	switch rv {
	case ckrOK:
		s.loggedIn = true
	case ckrUserAlreadyLoggedIn:
	default:
		return rvError("C_Login", rv, s.cfg)
	}
	return s.findKey()
}

// findSlot returns the slot holding the token labelled cfg.Token.
func (s *session) findSlot() (uint64, error) {
	var n uint64
	if rv := s.m.getSlotList(1, nil, &n); rv != ckrOK {
		return 0, rvError("C_GetSlotList", rv, s.cfg)
	}
	slots := make([]uint64, n+1)
	if rv := s.m.getSlotList(1, unsafe.SliceData(slots), &n); rv != ckrOK {
		return 0, rvError("C_GetSlotList", rv, s.cfg)
	}
	var labels []string
	for _, slot := range slots[:n] {
		info := new(ckTokenInfo)
		if rv := s.m.getTokenInfo(slot, info); rv != ckrOK {
			continue
		}
		label := string(bytes.TrimRight(info.Label[:], " \x00"))
		if label == s.cfg.Token {
			return slot, nil
		}
		labels = append(labels, fmt.Sprintf("%q", label))
	}
	return 0, fmt.Errorf("%w: no token labelled %q in %s (tokens: %v)", ErrTokenNotFound, s.cfg.Token, s.cfg.Module, labels)
}

// findKey finds the one private key labelled cfg.KeyLabel and its type.
func (s *session) findKey() error {
	class := uint64(ckoPrivateKey)
	label := []byte(s.cfg.KeyLabel)
	tmpl := []ckAttribute{
		{Type: ckaClass, Value: unsafe.Pointer(&class), Len: 8},
		{Type: ckaLabel, Value: unsafe.Pointer(unsafe.SliceData(label)), Len: uint64(len(label))},
	}
	if rv := s.m.findObjectsInit(s.h, unsafe.SliceData(tmpl), uint64(len(tmpl))); rv != ckrOK {
		return rvError("C_FindObjectsInit", rv, s.cfg)
	}
	objs := make([]uint64, 2)
	var n uint64
	rv := s.m.findObjects(s.h, unsafe.SliceData(objs), uint64(len(objs)), &n)
	s.m.findObjectsFinal(s.h)
	runtime.KeepAlive(label)
	runtime.KeepAlive(&class)
	switch {
	case rv != ckrOK:
		return rvError("C_FindObjects", rv, s.cfg)
	case n == 0:
		return fmt.Errorf("%w: no private key labelled %q on token %q (pkcs11-tool --list-objects --login shows them)", ErrKeyNotFound, s.cfg.KeyLabel, s.cfg.Token)
	case n > 1:
		return fmt.Errorf("%w: several private keys are labelled %q on token %q: give each a distinct label", ErrKeyNotFound, s.cfg.KeyLabel, s.cfg.Token)
	}
	s.key = objs[0]
	kind := new(uint64)
	attr := []ckAttribute{{Type: ckaKeyType, Value: unsafe.Pointer(kind), Len: 8}}
	if rv := s.m.getAttributeValue(s.h, s.key, unsafe.SliceData(attr), 1); rv != ckrOK {
		return rvError("C_GetAttributeValue(CKA_KEY_TYPE)", rv, s.cfg)
	}
	if *kind != ckkRSA && *kind != ckkEC {
		return fmt.Errorf("%w: key %q is of PKCS#11 key type %d; use an RSA or EC key", ErrKeyMismatch, s.cfg.KeyLabel, *kind)
	}
	s.kind = *kind
	return nil
}

func (s *session) keyType() uint64 { return s.kind }

// sign runs C_SignInit and C_Sign (asking the length first).
func (s *session) sign(mech uint64, data []byte) ([]byte, error) {
	m := &ckMechanism{Mechanism: mech}
	if rv := s.m.signInit(s.h, m, s.key); rv != ckrOK {
		return nil, rvError("C_SignInit", rv, s.cfg)
	}
	var n uint64
	if rv := s.m.sign(s.h, unsafe.SliceData(data), uint64(len(data)), nil, &n); rv != ckrOK {
		return nil, rvError("C_Sign", rv, s.cfg)
	}
	if n == 0 || n > 1<<14 {
		return nil, fmt.Errorf("%w: C_Sign announced a %d-byte signature", ErrTokenOperation, n)
	}
	sig := make([]byte, n)
	if rv := s.m.sign(s.h, unsafe.SliceData(data), uint64(len(data)), unsafe.SliceData(sig), &n); rv != ckrOK {
		return nil, rvError("C_Sign", rv, s.cfg)
	}
	return sig[:n], nil
}

// close logs out, closes the session and finalizes the library when this
// package initialized it.
func (s *session) close() error {
	var err error
	if s.loggedIn {
		if rv := s.m.logout(s.h); rv != ckrOK {
			err = rvError("C_Logout", rv, s.cfg)
		}
		s.loggedIn = false
	}
	if s.h != 0 {
		s.m.closeSession(s.h)
		s.h = 0
	}
	if s.finalize {
		s.m.finalize(nil)
		s.finalize = false
	}
	return err
}
