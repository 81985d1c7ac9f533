// Interlaced and telecined test clips, as NTSC DVDs hold them: pictures of
// moving content with sharp vertical edges (a box crossing panning bars, a
// band of horizontal stripes that must never count as combing), woven into
// fields and coded interlaced, top field first, at 30000/1001 by
// WriteLossyClip (tests/corpus/lossy_clip.h), with its AAC sine track.
//
//   telecined: 24 fps film frames A B C D in 3:2 pulldown, fields
//              At Ab | Bt Bb | Bt Cb | Ct Db | Dt Db (2 combed frames of 5)
//   interlaced video: every field its own moment (all moving frames combed)
//   progressive: the same pictures, one per frame, not interlaced
#ifndef ANIFARM_TESTS_CORPUS_FIELD_CLIPS_H_
#define ANIFARM_TESTS_CORPUS_FIELD_CLIPS_H_

#include "tests/corpus/lossy_clip.h"

namespace anifarm {

// The picture at moment `t` (a film frame, or a field of interlaced video):
// everything moves by `step` pixels per moment.
void DrawMoment(int t, int step, AVFrame& frame);

// Film frames (top, bottom) that video frame `index` of a 3:2 pulldown weaves.
struct PulldownFields {
  int top = 0;
  int bottom = 0;
};
PulldownFields PulldownOf(int index);

// MPEG-2 (mpeg2video, qscale 2), 30000/1001, interlaced top field first,
// with AAC audio, pixel aspect 8:9: `film_frames` (a multiple of 4)
// telecined into film_frames * 5 / 4 frames.
LossyClipSpec TelecinedClip(int width, int height, int film_frames);
// `frames` frames whose two fields show moments 2i and 2i+1.
LossyClipSpec InterlacedVideoClip(int width, int height, int frames);
// `frames` progressive frames at 24 fps (moment i in frame i).
LossyClipSpec ProgressiveClip(int width, int height, int frames);

}  // namespace anifarm

#endif  // ANIFARM_TESTS_CORPUS_FIELD_CLIPS_H_
