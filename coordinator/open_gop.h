// Open GOPs across chunk boundaries.
//
// A chunk starts on a keyframe and a node decodes its payload alone; with
// closed GOPs its own packets are all it needs. With open GOPs (libx264
// open-gop=1, libx265's default CRA pictures, MPEG-2 GOPs without the
// closed_gop flag) a keyframe that is not an IDR is followed in decode order
// by leading pictures: shown before it (lower pts) and predicted from the
// previous GOP as well as from it. The plan gives frames to chunks by pts,
// so leading pictures belong to the previous chunk while their packets sit
// after the next chunk's keyframe. The previous chunk's payload therefore
// also carries, after its own packets, the next chunk's keyframe and those
// leading pictures: decoded after its own GOP, they have all their
// references. The next chunk still decodes them first, without the previous
// GOP: FFmpeg's HEVC decoder skips such RASL pictures, its MPEG-2 decoder
// B-pictures without a forward reference, and its H.264 decoder decodes
// them with missing references (logging, not failing) but does not output
// them, as they precede the keyframe's recovery point. A node keeps only
// the frames whose pts it owns, so any that did come out would be ignored,
// as the previous chunk ignores the appended keyframe.
#ifndef ANIFARM_COORDINATOR_OPEN_GOP_H_
#define ANIFARM_COORDINATOR_OPEN_GOP_H_

#include <vector>

#include "protos/anifarm.pb.h"

namespace anifarm {

// The packets a chunk's payload appends after its own when `next` is the
// next chunk's payload (its packets from its starting keyframe, in decode
// order): that keyframe and the leading pictures right after it, the
// consecutive packets whose pts is below the keyframe's. Per the HEVC spec
// (and x264's and MPEG-2 encoders' practice) leading pictures come right
// after their keyframe in decode order. Empty where the keyframe has no
// leading picture (closed GOPs, IDR pictures) or its pts is unknown: then
// nothing is appended and the payload stays as it was.
std::vector<v1::SourcePacket> OpenGopTail(const v1::ChunkPayload& next);

}  // namespace anifarm

#endif  // ANIFARM_COORDINATOR_OPEN_GOP_H_
